/* The matching client: connect to 127.0.0.1:10000, send one line, print the echo. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    int sockfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in servaddr;
    memset(&servaddr, 0, sizeof servaddr);
    servaddr.sin_family = AF_INET;
    servaddr.sin_port = htons(10000);
    inet_pton(AF_INET, "127.0.0.1", &servaddr.sin_addr);
    if (connect(sockfd, (struct sockaddr *)&servaddr, sizeof servaddr) < 0) {
        perror("connect");
        return 1;
    }
    const char msg[] = "hello from C";
    write(sockfd, msg, strlen(msg));
    char buf[256];
    size_t got = 0;
    while (got < strlen(msg)) {
        ssize_t n = read(sockfd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += n;
    }
    buf[got] = 0;
    printf("%s\n", buf);
    close(sockfd);
    return 0;
}
