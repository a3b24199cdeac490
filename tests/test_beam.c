/* lib/policy/beam: step-wise beam search. Against a brute-force search on a tiny model: with a
 * beam wide enough to hold every sequence and enough samples to meet every token, scoring a step
 * by its log-probability, the beams are every sequence exactly once, ranked by their total
 * log-probability as computed for each whole sequence; finished beams; determinism; the goal
 * score's cosine. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "lib/policy/beam.h"
#include "lib/policy/dpo.h"

/* the tiny test model with a 5-token vocabulary, so that a search can hold every sequence */
static gc_model tiny5(void) {
    gc_model_config c = th_tiny_config(0);
    c.vocab_size = 5;
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 7);
    return m;
}

Test(beam, exhaustive_beam_is_the_brute_force_ranking) {
    gc_model m = tiny5();
    enum { V = 5, STEPS = 3, N = V * V * V };
    const int32_t prompt[1] = {1};
    gc_beam_config c = {.beam = N,
                        .samples = 64,
                        .step_tokens = 1,
                        .max_steps = STEPS,
                        .max_len = 8,
                        .step_end = -1,
                        .eos = -1,
                        .temperature = 5.0f,
                        .top_p = 1.0f,
                        .seed = 11};
    gc_beam_result r;
    cr_assert_eq(gc_beam_search(&m, prompt, 1, &c, th_beam_by_logprob, NULL, &r), GC_OK, "%s",
                 gc_last_error());
    cr_expect_eq(r.steps, STEPS);
    cr_assert_eq(r.n, N, "every sequence of %d tokens is a beam", STEPS);
    /* brute force: every sequence's log-probability in one pass */
    int32_t tok[N * 4];
    int plen[N], len[N], seen[N] = {0};
    double lp[N];
    for (int i = 0; i < N; i++) {
        tok[4 * i] = 1, tok[4 * i + 1] = i / 25, tok[4 * i + 2] = i / 5 % 5, tok[4 * i + 3] = i % 5;
        plen[i] = 1, len[i] = 4;
    }
    cr_assert_eq(gc_seq_logprob(&m, tok, N, 4, plen, len, 0, lp), GC_OK);
    int best = 0;
    for (int i = 1; i < N; i++)
        if (lp[i] > lp[best]) best = i;
    for (int j = 0; j < r.n; j++) {
        const int32_t *s = r.seq + (size_t)j * r.max_len;
        cr_assert_eq(r.len[j], 4);
        int i = s[1] * 25 + s[2] * 5 + s[3];
        seen[i]++;
        cr_expect_float_eq(r.score[j], lp[i], 1e-4, "beam %d: step sums %f, whole %f", j,
                           r.score[j], lp[i]);
        if (j) cr_expect_geq(r.score[j - 1], r.score[j], "ranked");
        cr_expect_eq(r.done[j], 0);
    }
    for (int i = 0; i < N; i++)
        cr_expect_eq(seen[i], 1, "sequence %d held %d times", i, seen[i]);
    const int32_t *top = r.seq;
    cr_expect_eq(top[1] * 25 + top[2] * 5 + top[3], best, "the best beam is the brute force's");
    cr_expect_eq(r.candidates, (int64_t)64 * (1 + 5 + 25));
    gc_beam_result_free(&r);
    gc_model_free(&m);
}

Test(beam, narrow_beams_finish_and_repeat_bitwise) {
    gc_model m = tiny5();
    const int32_t prompt[2] = {1, 3};
    gc_beam_config c = {.beam = 3,
                        .samples = 4,
                        .step_tokens = 2,
                        .max_steps = 4,
                        .max_len = 8,
                        .step_end = 4,
                        .eos = 2,
                        .temperature = 1.5f,
                        .top_p = 1.0f,
                        .seed = 5};
    gc_beam_result a, b;
    cr_assert_eq(gc_beam_search(&m, prompt, 2, &c, th_beam_by_logprob, NULL, &a), GC_OK, "%s",
                 gc_last_error());
    cr_assert_eq(gc_beam_search(&m, prompt, 2, &c, th_beam_by_logprob, NULL, &b), GC_OK);
    cr_assert_eq(a.n, b.n);
    cr_expect(!memcmp(a.seq, b.seq, sizeof(int32_t) * (size_t)a.n * a.max_len), "same seed");
    cr_expect(!memcmp(a.score, b.score, sizeof(double) * a.n));
    cr_expect_leq(a.n, 3);
    for (int j = 0; j < a.n; j++) {
        const int32_t *s = a.seq + (size_t)j * a.max_len;
        cr_expect(s[0] == 1 && s[1] == 3, "the prompt leads");
        int ended = a.len[j] == 8 || s[a.len[j] - 1] == 2;
        cr_expect_eq(a.done[j], ended, "beam %d: done %d, len %d, last %d", j, a.done[j], a.len[j],
                     s[a.len[j] - 1]);
        for (int p = 2; p < a.len[j] - 1; p++)
            cr_expect_neq(s[p], 2, "eos only last");
        if (j) cr_expect_geq(a.score[j - 1], a.score[j]);
        cr_expect_leq(a.len[j], 2 + 2 * a.steps);
    }
    gc_beam_result_free(&a), gc_beam_result_free(&b);
    c.max_len = 9; /* beyond the model's context */
    cr_expect_eq(gc_beam_search(&m, prompt, 2, &c, th_beam_by_logprob, NULL, &a), GC_ERR_ARG);
    gc_model_free(&m);
}

Test(beam, goal_score_is_the_cosine_to_the_pooled_state) {
    gc_model t = tiny5();
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &t, GC_HEAD_LINEAR, 1), GC_OK);
    int32_t seq[6] = {1, 3, 0, 4, 2, 1};
    int len = 6, D = rm.model.cfg.dim;
    cr_assert_eq(gc_model_forward_len(&rm.model, seq, 1, 6, &len, 0), GC_OK);
    float mean[64] = {0}, neg[64];
    cr_assert_leq(D, 64);
    for (int p = 2; p < 6; p++)
        for (int d = 0; d < D; d++)
            mean[d] += rm.model.hf[p * D + d] / 4.0f;
    for (int d = 0; d < D; d++)
        neg[d] = -mean[d];
    gc_beam_goal g = {&rm, mean, 0.0, 1.0};
    double sc;
    cr_assert_eq(gc_beam_goal_score(&g, seq, 2, 6, -3.0, &sc), GC_OK);
    cr_expect_float_eq(sc, 1.0, 1e-5, "the goal is the step's own pooled state: %f", sc);
    g.goal = neg;
    cr_assert_eq(gc_beam_goal_score(&g, seq, 2, 6, -3.0, &sc), GC_OK);
    cr_expect_float_eq(sc, -1.0, 1e-5);
    g.lp_weight = 0.5, g.goal_weight = 0;
    cr_assert_eq(gc_beam_goal_score(&g, seq, 2, 6, -3.0, &sc), GC_OK);
    cr_expect_float_eq(sc, 0.5 * -3.0 / 4, 1e-12, "length-normalised log-probability");
    gc_rm_free(&rm);
}

Test(beam, prompts_batched_together_search_as_they_do_alone) {
    gc_model m = tiny5();
    const int32_t p0[2] = {1, 3}, p1[3] = {1, 4, 0};
    const int32_t *ps[2] = {p0, p1};
    const int pl[2] = {2, 3};
    gc_beam_config c = {.beam = 2,
                        .samples = 3,
                        .step_tokens = 2,
                        .max_steps = 2,
                        .max_len = 8,
                        .step_end = -1,
                        .eos = 2,
                        .temperature = 1.2f,
                        .top_p = 1.0f,
                        .seed = 9};
    gc_beam_result both[2], alone;
    cr_assert_eq(gc_beam_search_batch(&m, ps, pl, 2, &c, th_beam_by_logprob, NULL, both), GC_OK,
                 "%s", gc_last_error());
    cr_assert_eq(gc_beam_search(&m, p0, 2, &c, th_beam_by_logprob, NULL, &alone), GC_OK);
    /* prompt 0 draws the same streams alone and in the batch */
    cr_assert_eq(both[0].n, alone.n);
    for (int j = 0; j < alone.n; j++) {
        cr_expect_eq(both[0].len[j], alone.len[j]);
        cr_expect(!memcmp(both[0].seq + (size_t)j * 8, alone.seq + (size_t)j * 8,
                          sizeof(int32_t) * alone.len[j]),
                  "beam %d", j);
        cr_expect_float_eq(both[0].score[j], alone.score[j], 1e-5);
    }
    for (int j = 0; j < both[1].n; j++)
        cr_expect(!memcmp(both[1].seq + (size_t)j * 8, p1, sizeof p1), "prompt 1 leads its beams");
    gc_beam_result_free(&both[0]), gc_beam_result_free(&both[1]), gc_beam_result_free(&alone);
    const int bad[2] = {2, 8};
    cr_expect_eq(gc_beam_search_batch(&m, ps, bad, 2, &c, th_beam_by_logprob, NULL, both),
                 GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "prompt 1 of 8 tokens"), "%s", gc_last_error());
    gc_model_free(&m);
}
