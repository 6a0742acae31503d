/* A UDP echo server for the network tests (busybox has no UDP server):
   udpecho PORT answers every datagram with "echo:" and the datagram, on IPv4 and IPv6
   (one socket of both families). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0), no = 0;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1]))};
    if (s < 0 || setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no) < 0 ||
        bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udpecho"); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        char buf[1500], out[1510];
        struct sockaddr_in6 peer;
        socklen_t plen = sizeof peer;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
        if (n < 0) continue;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, buf, n);
        sendto(s, out, n + 5, 0, (struct sockaddr *)&peer, plen);
    }
}
