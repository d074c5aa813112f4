/* backend_cpu_layers.c: the CPU ops of the layer kinds beyond dense, conv
 * and ReLU. */
#include "backend_cpu.h"

void vr_cpu_fill_layer_ops(vr_backend *b)
{
    (void)b;
}
