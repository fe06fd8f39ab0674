/*
 * fuzz_model.c — libFuzzer harness of the model loader and validator
 * (graph.h: dq_model_load).  The input is an HDF5 file.  A load must
 * fail with a message naming the file, or give a model that the
 * validator promises is runnable: its shapes infer, and when it is small
 * the engine runs one forward on a zero input without error.
 * h5io's probe stays on (fuzzutil.h explains why): a crash inside
 * libhdf5 must come back as an error naming the file, like any other.
 */
#include "engine.h"
#include "error.h"
#include "fuzzutil.h"
#include "graph.h"

#include <stdlib.h>
#include <string.h>

/* Largest total of intermediate values (at B = 1) the harness runs. */
#define FUZZ_MAX_VALUES 2000000

static int64_t total_values(const dq_model *m)
{
    dq_shape *sh = calloc((size_t)m->n_nodes, sizeof *sh);
    if (!sh) dq_fuzz_fail("out of memory");
    if (dq_model_shapes(m, 1, sh) != DQ_OK) /* validated at load */
        dq_fuzz_fail("a loaded model whose shapes do not infer");
    int64_t total = 0;
    for (int i = 0; i < m->n_nodes && total <= FUZZ_MAX_VALUES; i++) {
        int64_t n = 1;
        for (int d = 0; d < sh[i].rank && n <= FUZZ_MAX_VALUES; d++)
            n *= sh[i].d[d];
        total += n;
    }
    free(sh);
    return total;
}

static void run_forward(const dq_model *m)
{
    if (m->input_size > FUZZ_MAX_VALUES || total_values(m) > FUZZ_MAX_VALUES)
        return;
    float *in = calloc((size_t)m->input_size, sizeof *in);
    float *out = calloc((size_t)m->num_classes, sizeof *out);
    dq_engine *e = dq_engine_alloc(m);
    if (!in || !out || !e) dq_fuzz_fail("no engine");
    if (dq_engine_forward(e, in, 1, out) != DQ_OK)
        dq_fuzz_fail("a loaded model that does not run");
    dq_engine_free(e);
    free(in);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = dq_fuzz_file(data, size, ".h5");
    dq_model *m = dq_model_load(path);
    if (!m) {
        if (!strstr(dq_error_message(), path))
            dq_fuzz_fail("an error that does not name the file");
    } else {
        run_forward(m);
        dq_model_free(m);
    }
    dq_fuzz_done();
    dq_error_clear();
    return 0;
}
