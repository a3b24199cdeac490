#include "judge.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#ifndef GC_NO_CURL
#include <curl/curl.h>
#include <pthread.h>
#endif

gc_status gc_judge_from_env(gc_judge_config *c) {
    memset(c, 0, sizeof *c);
    c->temperature = 0, c->timeout_s = 60, c->retries = 4, c->backoff_s = 1, c->votes = 5;
    const char *url = getenv("GCRM_JUDGE_URL"), *model = getenv("GCRM_JUDGE_MODEL");
    const char *key = getenv("GCRM_JUDGE_API_KEY");
    if (!key || !*key) key = getenv("OPENAI_API_KEY");
    if (!url || !*url)
        return gc_fail(GC_ERR_ARG, "judge: set GCRM_JUDGE_URL to a chat-completions endpoint");
    if (!model || !*model) return gc_fail(GC_ERR_ARG, "judge: set GCRM_JUDGE_MODEL");
    snprintf(c->url, sizeof c->url, "%s", url);
    snprintf(c->model, sizeof c->model, "%s", model);
    c->api_key = key && *key ? key : NULL;
    return GC_OK;
}

char gc_judge_parse(const char *answer) {
    char found = 0;
    for (const char *p = answer; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (q < p + n && isspace((unsigned char)*q))
            q++;
        if ((size_t)(p + n - q) >= 8 && !strncasecmp(q, "verdict:", 8)) {
            q += 8;
            while (q < p + n && isspace((unsigned char)*q))
                q++;
            size_t rest = (size_t)(p + n - q);
            while (rest && (isspace((unsigned char)q[rest - 1]) || q[rest - 1] == '.'))
                rest--;
            if (rest == 1 && (*q == 'A' || *q == 'a'))
                found = 'A';
            else if (rest == 1 && (*q == 'B' || *q == 'b'))
                found = 'B';
            else if (rest == 3 && !strncasecmp(q, "tie", 3))
                found = 'T';
        }
        p = end ? end + 1 : NULL;
    }
    return found;
}

char *gc_judge_reply_content(const char *json) {
    cJSON *j = cJSON_Parse(json);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "content"));
    char *out = t ? strdup(t) : NULL;
    cJSON_Delete(j);
    return out;
}

#ifdef GC_NO_CURL

gc_status gc_judge_ask(const gc_judge_config *c, const char *prompt, char **reply) {
    (void)c, (void)prompt, (void)reply;
    return gc_fail(GC_ERR_IO, "judge: this build has no libcurl (install libcurl4-openssl-dev "
                              "and rebuild)");
}

#else

typedef struct {
    char *data;
    size_t n, cap;
} body;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx) {
    body *b = ctx;
    size_t k = size * nmemb;
    if (b->n + k + 1 > b->cap) {
        size_t cap = (b->n + k + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0; /* curl reports a write error */
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->n, p, k);
    b->n += k;
    b->data[b->n] = 0;
    return k;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

gc_status gc_judge_ask(const gc_judge_config *c, const char *prompt, char **reply) {
    *reply = NULL;
    pthread_once(&curl_once, curl_init);
    cJSON *req = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(req, "messages");
    cJSON_AddStringToObject(req, "model", c->model);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(req, "temperature", c->temperature);
    char *payload = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!payload) return GC_ERR_NOMEM;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024];
    if (c->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->api_key);
        hdr = curl_slist_append(hdr, auth);
        memset(auth, 0, sizeof auth);
    }
    gc_status s = GC_ERR_IO;
    char why[512] = "";
    double wait = c->backoff_s;
    for (int attempt = 0; attempt <= c->retries; attempt++) {
        if (attempt) sleep_s(wait), wait *= 2;
        CURL *h = curl_easy_init();
        if (!h) {
            snprintf(why, sizeof why, "cannot start a transfer");
            break;
        }
        body b = {0};
        curl_easy_setopt(h, CURLOPT_URL, c->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        int retry = 0;
        if (rc != CURLE_OK) {
            snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
            retry = 1;
        } else if (status != 200) {
            snprintf(why, sizeof why, "HTTP %ld: %.200s", status, b.data ? b.data : "");
            retry = status == 429 || status >= 500;
        } else {
            *reply = gc_judge_reply_content(b.data ? b.data : "");
            s = *reply ? GC_OK
                       : gc_fail(GC_ERR_FORMAT, "%s: not a chat-completions reply: %.200s", c->url,
                                 b.data ? b.data : "");
            free(b.data);
            break;
        }
        free(b.data);
        if (!retry) break;
    }
    curl_slist_free_all(hdr);
    free(payload);
    if (s == GC_ERR_IO)
        s = gc_fail(GC_ERR_IO, "%s: %s (after %d retries at most)", c->url, why, c->retries);
    return s;
}

#endif

gc_status gc_judge_pairwise(const gc_judge_config *c, const char *attribute, const char *prompt,
                            const char *a, const char *b, gc_judge_verdict *v) {
    memset(v, 0, sizeof *v);
    size_t n = strlen(attribute) + strlen(prompt) + strlen(a) + strlen(b) + 1024;
    char *q = gc_malloc(n);
    if (!q) return GC_ERR_NOMEM;
    snprintf(q, n,
             "You compare two responses to the same prompt on one attribute: %s.\n\n"
             "[Prompt]\n%s\n\n[Response A]\n%s\n\n[Response B]\n%s\n\n"
             "Which response is better on %s? Explain briefly, then end with one line: "
             "\"Verdict: A\", \"Verdict: B\" or \"Verdict: tie\".",
             attribute, prompt, a, b, attribute);
    gc_status s = GC_OK;
    for (int k = 0; k < c->votes && s == GC_OK; k++) {
        char *reply = NULL;
        s = gc_judge_ask(c, q, &reply);
        if (s == GC_ERR_FORMAT) { /* a malformed reply: dropped and counted */
            v->dropped++;
            s = GC_OK;
            continue;
        }
        if (s != GC_OK) break;
        char w = gc_judge_parse(reply);
        free(reply);
        if (w == 'A')
            v->a++;
        else if (w == 'B')
            v->b++;
        else if (w == 'T')
            v->tie++;
        else
            v->dropped++;
    }
    free(q);
    GC_TRY(s);
    v->winner = v->a + v->b + v->tie == 0 ? 0 : v->a > v->b ? 'A' : v->b > v->a ? 'B' : 'T';
    return GC_OK;
}
