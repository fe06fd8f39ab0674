/*
 * testmodels.h — tiny dnateq model files written with h5io, for the graph,
 * engine and dump tests (no PyTorch needed).
 *
 * "tiny" (input (1, 4, 4), 3 classes):
 *   x -> conv (2x1x3x3, pad 1, bias) -> bn (2) -> relu -> flat -> fc (3x32)
 * Node indices: x 0, conv 1, bn 2, relu 3, flat 4, fc 5.  A mutation
 * breaks the file in one way, for the validation tests.
 *
 * "tiny28" is the valid tiny model for 28x28 inputs (fc is 3x1568), so it
 * runs on Fashion-MNIST.
 *
 * "residual" (input (1, 2, 2), 4 classes): a value read by two nodes,
 *   x -> c = conv 1x1 (weight 2, bias 0.5); a = c + x; f = flatten(a)
 * so logits = 3x + 0.5; used to check that an activation transform on
 * the conv's input does not leak into the add.
 *
 * Parameters are filled from a fixed-seed generator; both writers return
 * DQ_OK or an h5io status.
 */
#ifndef DQ_TESTMODELS_H
#define DQ_TESTMODELS_H

enum tiny_mutation {
    TINY_OK,
    TINY_UNKNOWN_OP,     /* conv has op "conv3d" */
    TINY_MISSING_PARAM,  /* fc has no weight */
    TINY_BIAS_SHAPE,     /* conv bias has 3 entries for 2 channels */
    TINY_FEATURES,       /* fc weight is (3, 30) but its input has 32 */
    TINY_CYCLE,          /* relu reads fc, a later node */
    TINY_MISSING_INPUT,  /* relu reads 'nosuch' */
    TINY_EXTRA_PARAM,    /* relu holds a 'weight' dataset */
    TINY_BAD_ATTR,       /* conv stride (0, 1) */
    TINY_DUP_INDEX,      /* flat has bn's index */
    TINY_BAD_OUTPUT,     /* root output 'nosuch' */
    TINY_INPUT_COUNT,    /* fc has two inputs */
    TINY_NO_FOLD_SHAPE,  /* bn has 3 channels after a 2-channel conv */
    TINY_N_MUTATIONS
};

int tiny_write(const char *path, int mutation);
int tiny28_write(const char *path);
int residual_write(const char *path);

#endif
