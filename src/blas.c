/* blas.c — pin OpenBLAS's kernel set (see blas.h). */
#include "blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

void dq_blas_pin(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return;
    if (setenv("OPENBLAS_CORETYPE", DQ_BLAS_CORETYPE, 1) != 0)
        return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    dq_log_warn("cannot re-execute with OPENBLAS_CORETYPE=%s; "
                "OpenBLAS keeps the kernels it detected", DQ_BLAS_CORETYPE);
}
