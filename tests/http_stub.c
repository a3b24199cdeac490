/* http_stub: the loopback HTTP server of the judge tests (http_stub.h). */
#include "http_stub.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

void th_http_put(int c, const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(c, s, n);
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}

void th_http_reply(int c, int status, const char *body) {
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             status, strlen(body));
    th_http_put(c, head), th_http_put(c, body);
}

void th_http_answer(int c, const char *content) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": "
             "\"%s\"}}]}",
             content);
    th_http_reply(c, 200, body);
}

int th_http_read_request(int c, char *buf, size_t cap) {
    size_t n = 0;
    char *end = NULL;
    while (!end && n + 1 < cap) {
        ssize_t r = read(c, buf + n, cap - 1 - n);
        if (r <= 0) return 0;
        n += (size_t)r, buf[n] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) return 0;
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = cl ? (size_t)atol(cl + 15) : 0, have = n - (size_t)(end + 4 - buf);
    while (have < want && n + 1 < cap) {
        ssize_t r = read(c, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r, have += (size_t)r, buf[n] = 0;
    }
    return 1;
}

const char *th_http_body(const char *request) {
    const char *end = strstr(request, "\r\n\r\n");
    return end ? end + 4 : "";
}

/* answers requests one at a time, forever */
static void serve(int fd, void (*handle)(int c, const char *request)) {
    static char buf[1 << 20];
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        if (th_http_read_request(c, buf, sizeof buf)) handle(c, buf);
        close(c);
    }
}

pid_t th_http_start(void (*handle)(int c, const char *request), int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    pid_t server = fork();
    cr_assert_geq(server, 0);
    if (server == 0) {
        signal(SIGPIPE, SIG_IGN); /* a client that timed out has closed its end */
        serve(fd, handle);
        _exit(0);
    }
    close(fd);
    return server;
}

void th_http_stop(pid_t server) {
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
}
