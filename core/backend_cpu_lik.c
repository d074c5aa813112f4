/* backend_cpu_lik.c: the CPU ops of the likelihoods beyond Bernoulli. */
#include "backend_cpu.h"

void vr_cpu_fill_lik_ops(vr_backend *b)
{
    (void)b;
}
