/* objective.h: the objective's state, a few floats in backend memory so that
 * a device backend updates them without a host round trip.
 *
 * Every objective trains on loss = w_kl * KL - w_recon * log p(x|z) + offset:
 *   elbo     w_recon 1, w_kl 1
 *   beta     w_recon 1, w_kl beta
 *   anneal   w_recon 1, w_kl moving linearly from start to end (set per step)
 *   geco     w_recon lambda, w_kl 1, offset lambda * target: the Lagrangian
 *            KL + lambda (target - E log p(x|z)) of "minimise KL subject to
 *            E log p(x|z) >= target", lambda > 0 updated after every step
 *   iwae     the importance-weighted bound (its own ops); weights unused
 */
#ifndef VR_OBJECTIVE_H
#define VR_OBJECTIVE_H

enum {
    VR_OS_W_RECON,    /* weight of -log p(x|z) */
    VR_OS_W_KL,       /* weight of KL */
    VR_OS_OFFSET,     /* constant added to the loss (GECO: lambda * target) */
    VR_OS_MULT,       /* GECO's multiplier lambda (NaN without GECO) */
    VR_OS_NU,         /* GECO sgd: lambda = softplus(nu) */
    VR_OS_CMA,        /* GECO moving_average: the averaged constraint */
    VR_OS_CMA_SET,    /* 1 once CMA holds a value */
    VR_OS_TARGET,     /* GECO's target (for the offset) */
    VR_OS_LEN
};

/* Bounds on lambda: the multiplicative update could otherwise overflow. */
#define VR_GECO_MIN 1e-6f
#define VR_GECO_MAX 1e6f

#endif
