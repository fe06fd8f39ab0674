/*
 * test_tensor.c — dq_tensor allocation, shapes, reshape and summary
 * statistics, on hand-made vectors whose statistics are exact in binary
 * floating point (so the assertions compare with ==, not a tolerance).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "tensor.h"

#include <math.h>
#include <string.h>

/* {1, -3, 0, 4, 0, 4}: mean 1, squared deviations 0+16+1+9+1+9 = 36,
 * population variance 6. */
static void test_stats_exact(void **state)
{
    (void)state;
    const float x[] = {1, -3, 0, 4, 0, 4};
    dq_tensor_stats st;
    dq_tensor_stats_compute(x, 6, &st);
    assert_int_equal(st.n, 6);
    assert_int_equal(st.n_nonfinite, 0);
    assert_int_equal(st.n_zero, 2);
    assert_true(st.zero_frac == 2.0 / 6.0);
    assert_true(st.min == -3.0);
    assert_true(st.max == 4.0);
    assert_true(st.absmax == 4.0);
    assert_true(st.mean == 1.0);
    assert_true(st.std == sqrt(6.0));
}

/* Non-finite values are counted and left out of min/max/mean/std; the
 * zero fraction is over all n elements. */
static void test_stats_nonfinite(void **state)
{
    (void)state;
    const float x[] = {NAN, 1, -3, INFINITY, 0, 4, 0, -INFINITY, 4};
    dq_tensor_stats st;
    dq_tensor_stats_compute(x, 9, &st);
    assert_int_equal(st.n, 9);
    assert_int_equal(st.n_nonfinite, 3);
    assert_int_equal(st.n_zero, 2);
    assert_true(st.zero_frac == 2.0 / 9.0);
    assert_true(st.min == -3.0 && st.max == 4.0);
    assert_true(st.mean == 1.0);
    assert_true(st.std == sqrt(6.0));

    const float bad[] = {NAN, INFINITY};
    dq_tensor_stats_compute(bad, 2, &st);
    assert_int_equal(st.n_nonfinite, 2);
    assert_true(isnan(st.min) && isnan(st.max) && isnan(st.mean) &&
                isnan(st.std));
    assert_true(st.zero_frac == 0.0);

    dq_tensor_stats_compute(NULL, 0, &st);
    assert_int_equal(st.n, 0);
    assert_true(isnan(st.mean));
}

static void test_check_finite(void **state)
{
    (void)state;
    dq_tensor *t = dq_tensor_calloc("fc1.weight", 1, (int64_t[]){4});
    assert_non_null(t);
    assert_int_equal(dq_tensor_check_finite(t), DQ_OK);
    t->data[2] = NAN;
    assert_int_equal(dq_tensor_check_finite(t), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "fc1.weight"));
    assert_non_null(strstr(dq_error_message(), "element 2 is NaN"));
    t->data[2] = -INFINITY;
    assert_int_equal(dq_tensor_check_finite(t), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "-Inf"));
    dq_tensor_free(t);
}

static void test_alloc_and_shapes(void **state)
{
    (void)state;
    dq_tensor *t = dq_tensor_alloc4("x", 3, 2, 3, 4, 0);
    assert_non_null(t);
    assert_int_equal(t->rank, 3);
    assert_int_equal(t->size, 24);
    assert_string_equal(t->name, "x");
    assert_int_equal((uintptr_t)t->data % 64, 0);
    for (int i = 0; i < 24; i++) t->data[i] = (float)i;
    dq_tensor *c = dq_tensor_clone(t, "copy");
    assert_non_null(c);
    assert_string_equal(c->name, "copy");
    assert_true(dq_shape_equal(c->rank, c->shape, t->rank, t->shape));
    assert_memory_equal(c->data, t->data, 24 * sizeof(float));

    char buf[64];
    assert_string_equal(dq_shape_str(buf, sizeof buf, 3, t->shape),
                        "(2, 3, 4)");
    assert_string_equal(dq_shape_str(buf, sizeof buf, 0, t->shape), "()");

    dq_tensor *s = dq_tensor_calloc("scalar", 0, NULL);
    assert_non_null(s);
    assert_int_equal(s->size, 1);
    assert_true(s->data[0] == 0.0f);

    assert_int_equal(dq_shape_size(2, (int64_t[]){-1, 3}), -1);
    assert_int_equal(dq_shape_size(2, (int64_t[]){INT64_MAX, 2}), -1);
    assert_int_equal(dq_shape_size(2, (int64_t[]){0, 5}), 0);

    dq_error_clear();
    assert_null(dq_tensor_alloc("neg", 2, (int64_t[]){-2, 3}));
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "neg"));
    assert_null(dq_tensor_alloc("deep", DQ_MAX_RANK + 1,
                                (int64_t[]){1, 1, 1, 1, 1, 1, 1}));
    assert_non_null(strstr(dq_error_message(), "rank 7"));
    assert_null(dq_tensor_alloc4("five", 5, 1, 1, 1, 1));

    dq_tensor_free(s);
    dq_tensor_free(c);
    dq_tensor_free(t);
    dq_tensor_free(NULL);
}

static void test_reshape(void **state)
{
    (void)state;
    dq_tensor *t = dq_tensor_alloc4("act", 2, 6, 4, 0, 0);
    assert_non_null(t);
    assert_int_equal(dq_tensor_reshape(t, 3, (int64_t[]){2, 3, 4}), DQ_OK);
    assert_int_equal(t->rank, 3);
    assert_int_equal(t->shape[2], 4);

    /* Wrong size, negative dimension, too high a rank: refused, unchanged. */
    assert_int_equal(dq_tensor_reshape(t, 2, (int64_t[]){5, 5}), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "act"));
    assert_non_null(strstr(dq_error_message(), "24 elements"));
    assert_int_equal(dq_tensor_reshape(t, 2, (int64_t[]){-4, -6}), DQ_EINVAL);
    assert_int_equal(dq_tensor_reshape(t, DQ_MAX_RANK + 1,
                                       (int64_t[]){24, 1, 1, 1, 1, 1, 1}),
                     DQ_EINVAL);
    assert_int_equal(t->rank, 3);
    assert_true(dq_shape_equal(t->rank, t->shape, 3, (int64_t[]){2, 3, 4}));
    assert_int_equal(t->size, 24);
    dq_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_exact),
        cmocka_unit_test(test_stats_nonfinite),
        cmocka_unit_test(test_check_finite),
        cmocka_unit_test(test_alloc_and_shapes),
        cmocka_unit_test(test_reshape),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
