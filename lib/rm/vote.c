#include "vote.h"

int gc_vote_record_lows(const float *q, int n, int skip, int *low_j, float *low_q) {
    int k = 0;
    for (int j = skip < 0 ? 0 : skip; j < n; j++)
        if (k == 0 || q[j] < low_q[k - 1]) low_j[k] = j, low_q[k++] = q[j];
    return k;
}

int gc_vote_cut(const int *low_j, const float *low_q, int n_lows, float tau) {
    for (int i = 0; i < n_lows; i++)
        if (low_q[i] < tau) return low_j[i];
    return -1;
}

void gc_vote_question(const gc_vote_sample *s, int M, int64_t answer, gc_vote_result *out) {
    int survivors = 0;
    for (int i = 0; i < M; i++)
        survivors += s[i].cut < 0;
    int all = survivors == 0; /* nobody survived: everybody votes, nothing saved */
    *out = (gc_vote_result){0};
    for (int i = 0; i < M; i++) {
        out->generated += s[i].n_gen;
        if (!all && s[i].cut >= 0) {
            out->filtered++;
            out->saved += s[i].n_gen - (s[i].cut + 1);
        }
    }
    /* count votes per answer among the voters: M is small, quadratic is fine */
    int best = 0, right_votes = 0, ties = 0, right_is_best = 0;
    for (int i = 0; i < M; i++) {
        if (!all && s[i].cut >= 0) continue;
        out->voters++;
        int right = s[i].has_answer && s[i].answer == answer;
        right_votes += right;
        int first = 1, votes = 0; /* count each distinct answer once, at its first voter */
        for (int j = 0; j < M; j++) {
            if (!all && s[j].cut >= 0) continue;
            int same = s[j].has_answer == s[i].has_answer &&
                       (!s[i].has_answer || s[j].answer == s[i].answer);
            if (!same) continue;
            if (j < i) first = 0;
            votes++;
        }
        if (!first) continue;
        if (votes > best)
            best = votes, ties = 1, right_is_best = right;
        else if (votes == best)
            ties++, right_is_best |= right;
    }
    out->prop_correct = out->voters ? (double)right_votes / out->voters : 0;
    out->correct = right_is_best ? 1.0 / ties : 0.0;
}
