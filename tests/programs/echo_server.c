/* An iterative TCP echo server, as in UNIX Network Programming (no error handling). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    int listenfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in servaddr;
    memset(&servaddr, 0, sizeof servaddr);
    servaddr.sin_family = AF_INET;
    servaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    servaddr.sin_port = htons(10000);
    bind(listenfd, (struct sockaddr *)&servaddr, sizeof servaddr);
    listen(listenfd, 5);
    for (;;) {
        int connfd = accept(listenfd, NULL, NULL);
        char buf[256];
        ssize_t n;
        while ((n = read(connfd, buf, sizeof buf)) > 0)
            write(connfd, buf, n);
        close(connfd);
    }
}
