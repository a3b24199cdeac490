/* lib/judge against a small HTTP server this test starts on the loopback address: verdict
 * parsing, majority voting with malformed and verdict-less replies dropped and counted, retries
 * with backoff on 5xx, no retry on 401, timeouts, cut-short bodies and non-JSON replies: a clear
 * error or a counted drop, never a crash; the API key sent in its header. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_stub.h"
#include "lib/judge/judge.h"

/* answers a request by the CASE:<name> its prompt holds, counting per case */
static void answer_case(int c, const char *buf) {
    static int mixed = 0, flaky = 0;
    const char *k = strstr(buf, "CASE:");
    char name[32] = "";
    if (k) sscanf(k + 5, "%31[a-z0-9]", name);
    if (!strcmp(name, "ok")) {
        th_http_answer(c, "A is clearer.\\nVerdict: A");
    } else if (!strcmp(name, "mixed")) { /* A, B, A, no verdict, not JSON */
        static const char *const seq[] = {"Verdict: A", "Better.\\nVerdict: B", "verdict: a.",
                                          "I cannot decide."};
        if (mixed % 5 == 4)
            th_http_reply(c, 200, "<html>busy</html>");
        else
            th_http_answer(c, seq[mixed % 5]);
        mixed++;
    } else if (!strcmp(name, "flaky")) { /* two 503s, then an answer */
        if (flaky++ % 3 < 2)
            th_http_reply(c, 503, "{\"error\": \"overloaded\"}");
        else
            th_http_answer(c, "Verdict: B");
    } else if (!strcmp(name, "down")) {
        th_http_reply(c, 500, "{\"error\": \"internal\"}");
    } else if (!strcmp(name, "auth")) {
        if (strstr(buf, "Authorization: Bearer sekrit"))
            th_http_answer(c, "Verdict: tie");
        else
            th_http_reply(c, 401, "{\"error\": \"invalid api key\"}");
    } else if (!strcmp(name, "slow")) {
        sleep(2);
        th_http_answer(c, "Verdict: A");
    } else if (!strcmp(name, "cut")) {
        th_http_put(c, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"choices\": [");
    } else if (!strcmp(name, "nocontent")) {
        th_http_reply(c, 200, "{\"choices\": []}");
    } else {
        th_http_reply(c, 404, "{\"error\": \"unknown case\"}");
    }
}

static pid_t g_server;
static int g_port;

static void start(void) {
    g_server = th_http_start(answer_case, &g_port);
}

static void stop(void) {
    th_http_stop(g_server);
}

static gc_judge_config config(void) {
    gc_judge_config c = {
        .temperature = 0, .timeout_s = 5, .retries = 3, .backoff_s = 0.01, .votes = 5};
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:%d/v1/chat/completions", g_port);
    snprintf(c.model, sizeof c.model, "test-judge");
    return c;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

Test(judge, parses_the_last_verdict_line) {
    cr_expect_eq(gc_judge_parse("A is better.\nVerdict: A"), 'A');
    cr_expect_eq(gc_judge_parse("Verdict: A\nOn reflection:\n  verdict: b.  "), 'B');
    cr_expect_eq(gc_judge_parse("Verdict: Tie"), 'T');
    cr_expect_eq(gc_judge_parse("Verdict: both"), 0);
    cr_expect_eq(gc_judge_parse("The verdict: A is better"), 0, "not a verdict line");
    cr_expect_eq(gc_judge_parse(""), 0);
}

Test(judge, votes_retries_and_failures_against_a_local_server, .init = start, .fini = stop,
     .timeout = 60) {
    gc_judge_config c = config();
    if (gc_judge_ask(&c, "CASE:ok", &(char *){NULL}) != GC_OK &&
        strstr(gc_last_error(), "no libcurl"))
        cr_skip_test("%s", gc_last_error());
    char *r = NULL;
    cr_assert_eq(gc_judge_ask(&c, "CASE:ok", &r), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(r, "A is clearer.\nVerdict: A");
    free(r);
    gc_judge_verdict v;
    cr_assert_eq(gc_judge_pairwise(&c, "coherence", "CASE:mixed", "one", "two", &v), GC_OK, "%s",
                 gc_last_error());
    cr_expect(v.a == 2 && v.b == 1 && v.tie == 0 && v.dropped == 2 && v.winner == 'A',
              "A %d B %d tie %d dropped %d winner %c", v.a, v.b, v.tie, v.dropped, v.winner);
    /* two 503s, then an answer: retried with backoff */
    c.votes = 1;
    cr_assert_eq(gc_judge_pairwise(&c, "coherence", "CASE:flaky", "one", "two", &v), GC_OK, "%s",
                 gc_last_error());
    cr_expect(v.b == 1 && v.winner == 'B');
    /* always 500: an error naming the URL and the status after the retries */
    cr_expect_eq(gc_judge_ask(&c, "CASE:down", &r), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "HTTP 500") && strstr(gc_last_error(), "127.0.0.1"), "%s",
              gc_last_error());
    /* 401: no retry (a long backoff would show), and the key goes in its header */
    c.backoff_s = 2;
    double t0 = now();
    cr_expect_eq(gc_judge_ask(&c, "CASE:auth", &r), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "HTTP 401"), "%s", gc_last_error());
    cr_expect_lt(now() - t0, 1.5, "a 401 is not retried");
    c.api_key = "sekrit";
    cr_assert_eq(gc_judge_ask(&c, "CASE:auth", &r), GC_OK, "%s", gc_last_error());
    cr_expect_eq(gc_judge_parse(r), 'T');
    free(r);
    cr_expect_null(strstr(gc_last_error(), "sekrit"), "the key is never in a message");
    /* a timeout, a body cut short: errors after the retries */
    c.backoff_s = 0.01, c.timeout_s = 0.3, c.retries = 1;
    cr_expect_eq(gc_judge_ask(&c, "CASE:slow", &r), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "imeout") || strstr(gc_last_error(), "timed out"), "%s",
              gc_last_error());
    c.timeout_s = 5;
    cr_expect_eq(gc_judge_ask(&c, "CASE:cut", &r), GC_ERR_IO, "%s", gc_last_error());
    /* replies that are not chat completions: GC_ERR_FORMAT, dropped by the pairwise vote */
    cr_expect_eq(gc_judge_ask(&c, "CASE:nocontent", &r), GC_ERR_FORMAT, "%s", gc_last_error());
    cr_expect_null(r);
    c.votes = 3;
    cr_assert_eq(gc_judge_pairwise(&c, "complexity", "CASE:nocontent", "x", "y", &v), GC_OK);
    cr_expect(v.dropped == 3 && v.winner == 0);
    /* nobody listening */
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:1/v1/chat/completions");
    c.retries = 0;
    cr_expect_eq(gc_judge_ask(&c, "CASE:ok", &r), GC_ERR_IO);
}

Test(judge, configuration_comes_from_the_environment) {
    gc_judge_config c;
    unsetenv("GCRM_JUDGE_URL");
    cr_expect_eq(gc_judge_from_env(&c), GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "GCRM_JUDGE_URL"));
    setenv("GCRM_JUDGE_URL", "http://127.0.0.1:9/v1/chat/completions", 1);
    unsetenv("GCRM_JUDGE_MODEL");
    cr_expect_eq(gc_judge_from_env(&c), GC_ERR_ARG);
    setenv("GCRM_JUDGE_MODEL", "m", 1);
    setenv("GCRM_JUDGE_API_KEY", "k", 1);
    cr_assert_eq(gc_judge_from_env(&c), GC_OK);
    cr_expect_str_eq(c.model, "m");
    cr_expect_str_eq(c.api_key, "k");
    cr_expect_eq(c.votes, 5);
}
