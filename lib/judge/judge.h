/* judge: a pairwise judge behind any OpenAI-compatible chat-completions endpoint, as the paper
 * judged its guided generations (table3b at full scale, PAPER.md section 5).
 *
 * One request POSTs {"model", "messages": [{"role": "user", "content": prompt}], "temperature"}
 * to the endpoint's URL (libcurl) with "Authorization: Bearer <key>" when a key is given, and
 * reads choices[0].message.content. Timeouts, connection failures, cut-short transfers, HTTP 429
 * and 5xx are retried `retries` times, waiting backoff_s, then twice as long each time; after the
 * last, or at once on any other HTTP error, the call fails with a message naming the URL, the
 * status and the start of the body. The key is only ever sent in that header.
 *
 * A pairwise comparison asks `votes` times for a verdict on one attribute between response A and
 * response B to a prompt; an answer must end its reasoning with a line "Verdict: A", "Verdict: B"
 * or "Verdict: tie" (the last such line counts). A reply that is not the expected JSON, has no
 * content, or gives no verdict is dropped and counted; the winner is the majority of the valid
 * votes (A or B with more votes than the other; otherwise a tie; no valid vote: none).
 *
 * The calls may run on several threads at once (each request its own transfer).
 *
 * Configuration from the environment (gc_judge_from_env): GCRM_JUDGE_URL, GCRM_JUDGE_MODEL,
 * GCRM_JUDGE_API_KEY (else OPENAI_API_KEY). Built without libcurl, every call fails saying so.
 */
#ifndef GC_JUDGE_H
#define GC_JUDGE_H

#include "lib/util/base.h"

typedef struct {
    char url[512]; /* the chat-completions endpoint (…/v1/chat/completions) */
    char model[128];
    const char *api_key; /* may be NULL; never copied, logged or written */
    double temperature;
    double timeout_s; /* per request, connection included */
    int retries;      /* tries after the first */
    double backoff_s; /* the first retry's wait */
    int votes;        /* asks per comparison (the paper: 5) */
} gc_judge_config;

/* Defaults (temperature 0, 60 s, 4 retries from 1 s, 5 votes), then the environment's URL, model
 * and key; GC_ERR_ARG naming the variable when the URL or the model is missing. */
gc_status gc_judge_from_env(gc_judge_config *c);

/* One request; *reply (malloc'd) gets the answer's text. A reply that is not the expected JSON
 * is GC_ERR_FORMAT (the caller may count it); transport and HTTP failures GC_ERR_IO. */
gc_status gc_judge_ask(const gc_judge_config *c, const char *prompt, char **reply);

typedef struct {
    int a, b, tie; /* valid votes */
    int dropped;   /* malformed replies and replies without a verdict */
    char winner;   /* 'A', 'B', 'T' (tie) or 0 (no valid vote) */
} gc_judge_verdict;

/* The answer's text in a chat-completions reply (choices[0].message.content; malloc'd), or NULL
 * when the reply is not one. */
char *gc_judge_reply_content(const char *json);
/* The verdict line of an answer: 'A', 'B', 'T', or 0 when it has none. */
char gc_judge_parse(const char *answer);

/* `votes` asks on one attribute (e.g. "helpfulness") of responses a and b to prompt. */
gc_status gc_judge_pairwise(const gc_judge_config *c, const char *attribute, const char *prompt,
                            const char *a, const char *b, gc_judge_verdict *v);

#endif
