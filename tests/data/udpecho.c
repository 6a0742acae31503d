/* A UDP echo server for the network tests (busybox has no UDP server):
   udpecho PORT answers every datagram with "echo:" and the datagram. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udpecho"); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        char buf[1500], out[1510];
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
        if (n < 0) continue;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, buf, n);
        sendto(s, out, n + 5, 0, (struct sockaddr *)&peer, plen);
    }
}
