/* http_stub: a small HTTP server on the loopback address, in a child process, for the tests of
 * the judge client and of what calls it: th_http_start binds a free port and forks; the child
 * reads one request at a time and answers it with handle(connection, request), until
 * th_http_stop kills it. */
#ifndef TH_HTTP_STUB_H
#define TH_HTTP_STUB_H

#include <stddef.h>
#include <sys/types.h>

/* writes s to connection c */
void th_http_put(int c, const char *s);
/* a whole response: status, a JSON body, Connection: close */
void th_http_reply(int c, int status, const char *body);
/* a chat-completions reply whose message content is `content` (already JSON-escaped) */
void th_http_answer(int c, const char *content);
/* one request, headers and body, into buf; 0 when the client went away */
int th_http_read_request(int c, char *buf, size_t cap);
/* the body of a request read by th_http_read_request (after the blank line) */
const char *th_http_body(const char *request);

pid_t th_http_start(void (*handle)(int c, const char *request), int *port);
void th_http_stop(pid_t server);

#endif
