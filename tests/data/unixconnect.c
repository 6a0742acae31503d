/* For the attach socket tests (busybox's nc has no unix sockets):
   unixconnect ADDR... tries each unix stream socket address (a leading @ names an
   abstract one) and prints "ADDR connected N" with the bytes it then read (within
   3 s), or "ADDR refused ERROR". */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(argv[i]);
        if (n >= sizeof a.sun_path) { printf("%s refused too long\n", argv[i]); continue; }
        memcpy(a.sun_path, argv[i], n);
        if (argv[i][0] == '@') a.sun_path[0] = 0;
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + n) < 0) {
            printf("%s refused %s\n", argv[i], strerror(errno));
        } else {
            struct timeval tv = {.tv_sec = 3};
            char buf[256];
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ssize_t got = read(s, buf, sizeof buf);
            printf("%s connected %zd\n", argv[i], got);
        }
        close(s);
    }
    return 0;
}
