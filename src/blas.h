/*
 * blas.h — pin OpenBLAS to one kernel set for every dnateq process.
 *
 * OpenBLAS picks its kernels when it is loaded, from OPENBLAS_CORETYPE or
 * from cpuid.  On CPUs it does not recognise (this project's 2-core VMs
 * report a generic "Intel(R) Xeon(R) Processor" with AVX-512) it falls back
 * to Prescott (SSE3) kernels, 2-4x slower, and the kernel set also decides
 * how sgemm rounds.  dq_blas_pin(argv) makes the choice explicit: when
 * OPENBLAS_CORETYPE is unset and the CPU has AVX2 and FMA, it sets it to
 * DQ_BLAS_CORETYPE ("Haswell") and re-executes the program once
 * (/proc/self/exe, same argv), so every driver on every AVX2 machine runs
 * the same kernels and therefore writes the same bytes.  A user who sets
 * OPENBLAS_CORETYPE keeps that choice.  If the re-exec fails the process
 * goes on with the kernels it has, after a warning.
 *
 * Every driver calls it first thing, through dq_cli_parse().
 */
#ifndef DQ_BLAS_H
#define DQ_BLAS_H

#define DQ_BLAS_CORETYPE "Haswell"

void dq_blas_pin(char **argv);

#endif
