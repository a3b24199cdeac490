/* fastexp: e^x in fp32 without a libm call, so the ops' inner loops vectorise (the SwiGLU
 * activation, the attention softmax; ops.c). Their libm versions stay as the references
 * (gc_ops_*_ref) the fast paths are tested against.
 *
 * Method: x = k ln2 + r with k = round(x / ln2) and a two-constant (Cody-Waite) ln2, so that
 * |r| <= ln2/2 exactly; e^r by Cephes' degree-6 polynomial; 2^k put into the exponent bits.
 * Accuracy: within 1 ulp of glibc's expf for x in [-87.33, 88.72] (tests/test_core.c sweeps it);
 * 0 below that range, +inf above it (expf gives a subnormal there: at most 1.2e-38 apart), NaN
 * for NaN. Every operation is a plain IEEE one in a fixed order, so one build gives the same bits
 * on every run and thread count; another compiler or flags may round differently (within the
 * bound above).
 */
#ifndef GC_FASTEXP_H
#define GC_FASTEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define GC_EXPF_LO -87.33654f /* e^x is a normal float above this */
#define GC_EXPF_HI 88.72283f  /* and finite below this */

static inline float gc_expf(float x) {
    float c = x < GC_EXPF_LO ? GC_EXPF_LO : x;
    c = c > GC_EXPF_HI ? GC_EXPF_HI : c;
    float t = c * 1.44269504088896341f + 12582912.0f; /* round to nearest by the 1.5 * 2^23 shift */
    float k = t - 12582912.0f;
    uint32_t ki; /* unsigned: a NaN's bits may not overflow a signed operation */
    memcpy(&ki, &t, sizeof ki);
    ki -= 0x4B400000u; /* the integer k (two's complement) from t's mantissa bits */
    float r = c - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^k as 2^(k-1) * 2 for k > 0: k reaches 128 at the top of the range, past the exponent */
    uint32_t up = (int32_t)ki > 0, bits = (ki - up + 127u) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    float y = p * s * (up ? 2.0f : 1.0f);
    y = x < GC_EXPF_LO ? 0.0f : y;
    y = x > GC_EXPF_HI ? INFINITY : y;
    return x != x ? x : y;
}

#endif
