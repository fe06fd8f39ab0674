"""Export a PyTorch model to the dnateq HDF5 model schema (format=dnateq-model).

This is a *generic* exporter: it traces any nn.Module with torch.fx, runs the
traced graph at two batch sizes (2 and 3) to learn every node's output shape,
folds shape arithmetic (x.shape, x.size(0), B * N, ...) into constants, and
writes one HDF5 group per graph node in topological order. The schema is
documented in the README ("HDF5 file schemas / Model"); the C engine
(src/graph.c, src/engine.c) reads it.

Zoo models (from the repository root, with Debian's python3-torch):

    /usr/bin/python3 data/zoo/export.py --model mlp \
        [--ckpt data/zoo/ckpt/mlp.pt] [--out data/zoo/mlp.h5]

Your own model (Python API):

    import sys; sys.path.insert(0, 'data/zoo')
    import export
    export.export(my_module, 'my.h5', (1, 28, 28))         # graph + weights
    export.export(my_module, 'my.h5', (1, 28, 28),         # + zoo metadata
                  model_name='mine', norm=(mean, std),
                  splits={'val': (xv, yv), 'test': (xt, yt)})

Supported graph nodes
  modules:  Conv2d, Linear, BatchNorm2d, LayerNorm, ReLU, GELU (erf form),
            MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Softmax,
            Dropout (identity in eval mode), Identity
  functions/methods: add, mul (tensor or Python-number operand), matmul (@),
            softmax, flatten, reshape/view, permute/transpose, cat, getitem
            (basic slicing and integer indexing), mean, expand, contiguous,
            relu, gelu, and shape arithmetic (size, shape, dim, +, -, *, //)
  get_attr: parameters and buffers, written as `constant` nodes
Anything else raises ExportError naming the node and the op.

Dimensions that change with the batch size (e.g. `x.reshape(B, N, C)`) are
recognised by comparing the two runs: they are stored as -1 in `shape`
with the per-sample factor in `batch_mult` (size = batch_mult * B).
"""

import argparse
import math
import operator
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = 'dnateq-model'
VERSION = 1
N_REFERENCE = 256
INT64_MAX = np.iinfo(np.int64).max
PROBE_BATCHES = (2, 3)


class ExportError(Exception):
    """A model the exporter (or the C engine) cannot represent."""


# ---- helpers ---------------------------------------------------------------

def git_revision():
    """dnateq's revision, as the Makefile computes it ("unknown" outside git)."""
    try:
        out = subprocess.run(
            ['git', 'describe', '--always', '--dirty', '--abbrev=12'],
            cwd=HERE, capture_output=True, text=True, timeout=30)
        rev = out.stdout.strip()
        return rev if out.returncode == 0 and rev else 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def _pair(v, what, where):
    if isinstance(v, int):
        return [v, v]
    if isinstance(v, (tuple, list)) and len(v) == 2 and \
            all(isinstance(i, int) for i in v):
        return [int(v[0]), int(v[1])]
    raise ExportError('%s: %s %r is not an int or a pair of ints' %
                      (where, what, v))


def _ints(v):
    return np.asarray(v, dtype=np.int64).reshape(-1)


def _target_name(n):
    t = n.target
    if isinstance(t, str):
        return t
    mod = getattr(t, '__module__', None) or ''
    name = getattr(t, '__name__', None) or str(t)
    return (mod + '.' + name) if mod and mod != 'builtins' else name


def _describe(n):
    return "node '%s' (%s %s)" % (n.name, n.op, _target_name(n))


class _Recorder(torch.fx.Interpreter):
    """Runs the graph and keeps every node's result."""

    def __init__(self, gm):
        super().__init__(gm)
        self.values = {}

    def run_node(self, n):
        v = super().run_node(n)
        self.values[n] = v
        return v


def _probe(gm, input_shape, batch):
    g = torch.Generator().manual_seed(1234 + batch)
    x = torch.randn((batch,) + tuple(input_shape), generator=g)
    rec = _Recorder(gm)
    with torch.no_grad():
        rec.run(x)
    return rec.values


# Non-tensor nodes that are pure shape arithmetic and may be folded.
_FOLD_FUNCS = {operator.getitem, operator.add, operator.sub, operator.mul,
               operator.floordiv, operator.truediv, operator.neg,
               operator.mod, getattr, len}
_FOLD_METHODS = {'size', 'dim', 'numel'}
_FOLD_ATTRS = {'shape', 'ndim'}


class _Graph:
    """Translation of one traced GraphModule into dnateq node records."""

    def __init__(self, gm, input_shape):
        self.gm = gm
        self.vals = [_probe(gm, input_shape, b) for b in PROBE_BATCHES]
        self.alias = {}       # elided node name -> name of its input
        self.records = []     # dicts: name, op, inputs, attrs, params
        self.folded = set()

    # -- values of nodes at the two probe batch sizes --
    def is_tensor(self, n):
        return isinstance(self.vals[0].get(n), torch.Tensor)

    def shapes(self, n):
        return [tuple(v[n].shape) for v in self.vals]

    def rank(self, n):
        return len(self.shapes(n)[0])

    def const(self, a, where):
        """Resolve a non-tensor argument (python value or folded node) to
        one value; batch-dependent values are an error."""
        v = [self._const_at(a, i, where) for i in range(len(PROBE_BATCHES))]
        if v[0] != v[1]:
            raise ExportError('%s: argument %r depends on the batch size, '
                              'which this op cannot store' % (where, a))
        return v[0]

    def _const_at(self, a, i, where):
        if isinstance(a, torch.fx.Node):
            if a not in self.folded:
                raise ExportError('%s: expected a constant, got tensor node '
                                  "'%s'" % (where, a.name))
            v = self.vals[i][a]
            return tuple(v) if isinstance(v, torch.Size) else v
        if isinstance(a, (tuple, list)):
            return type(a)(self._const_at(x, i, where) for x in a)
        if isinstance(a, slice):
            return slice(self._const_at(a.start, i, where),
                         self._const_at(a.stop, i, where),
                         self._const_at(a.step, i, where))
        return a

    def tin(self, a, where):
        """Name of the (non-elided) node producing tensor argument a."""
        if not isinstance(a, torch.fx.Node) or not self.is_tensor(a):
            raise ExportError('%s: expected a tensor argument, got %r' %
                              (where, a))
        name = a.name
        while name in self.alias:
            name = self.alias[name]
        return name

    def batch_shape(self, n, where):
        """Output shape of n as (shape, batch_mult): batch-dependent dims
        are -1 in shape and their per-sample factor is in batch_mult."""
        s2, s3 = self.shapes(n)
        b2, b3 = PROBE_BATCHES
        shape, mult = [], []
        for d2, d3 in zip(s2, s3):
            if d2 == d3:
                shape.append(d2)
                mult.append(0)
                continue
            m = (d3 - d2) // (b3 - b2)
            if m <= 0 or d2 != m * b2 or d3 != m * b3:
                raise ExportError('%s: output dim %d/%d at batch %d/%d is '
                                  'not a multiple of the batch size' %
                                  (where, d2, d3, b2, b3))
            shape.append(-1)
            mult.append(m)
        return shape, mult

    def emit(self, n, op, inputs, attrs=None, params=None):
        self.records.append(dict(name=n.name, op=op, inputs=list(inputs),
                                 attrs=attrs or {}, params=params or {}))

    # -- translation --
    def translate(self):
        nodes = list(self.gm.graph.nodes)
        out = [n for n in nodes if n.op == 'output']
        if len(out) != 1:
            raise ExportError('graph has %d output nodes, expected 1' %
                              len(out))
        live = set()
        stack = [out[0]]
        while stack:
            n = stack.pop()
            if n in live:
                continue
            live.add(n)
            stack.extend(n.all_input_nodes)
        placeholders = [n for n in nodes if n.op == 'placeholder']
        if len(placeholders) != 1:
            raise ExportError('the model takes %d inputs; dnateq models take '
                              'exactly one tensor' % len(placeholders))
        for n in nodes:
            if n not in live or n.op == 'output':
                continue
            if n.op == 'placeholder':
                self.emit(n, 'input', [])
            elif not self.is_tensor(n):
                self.fold(n)
            elif n.op == 'get_attr':
                self.get_attr(n)
            elif n.op == 'call_module':
                self.call_module(n)
            elif n.op in ('call_function', 'call_method'):
                self.call(n)
            else:
                raise ExportError('%s: unsupported node kind' % _describe(n))
        res = out[0].args[0]
        if not isinstance(res, torch.fx.Node) or not self.is_tensor(res):
            raise ExportError('the model must return one tensor, got %r' %
                              (res,))
        return self.tin(res, 'output')

    def fold(self, n):
        ok = (n.op == 'call_function' and n.target in _FOLD_FUNCS) or \
             (n.op == 'call_method' and n.target in _FOLD_METHODS)
        if ok and n.target is getattr:
            ok = len(n.args) == 2 and n.args[1] in _FOLD_ATTRS
        if ok and n.target not in ('size', 'dim', 'numel', getattr, len):
            # arithmetic / indexing only on already-folded values
            ok = all(a in self.folded for a in n.all_input_nodes)
        if not ok:
            raise ExportError('%s: unsupported op (it returns %s, not a '
                              'tensor, and is not shape arithmetic)' %
                              (_describe(n), type(self.vals[0][n]).__name__))
        self.folded.add(n)

    def get_attr(self, n):
        where = _describe(n)
        v = self.vals[0][n]
        if not v.is_floating_point():
            raise ExportError('%s: constant of dtype %s; only floating point '
                              'constants are supported' % (where, v.dtype))
        if v.dim() > 4:
            raise ExportError('%s: constant of rank %d (at most 4)' %
                              (where, v.dim()))
        self.emit(n, 'constant', [], params={'value': v})

    def call_module(self, n):
        m = self.gm.get_submodule(n.target)
        where = "node '%s' (module %s '%s')" % (n.name, type(m).__name__,
                                               n.target)
        if len(n.args) != 1 or n.kwargs:
            raise ExportError('%s: expected one tensor argument' % where)
        x = self.tin(n.args[0], where)
        t = type(m)
        if t in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity):
            if t is not nn.Identity and m.training:
                raise ExportError('%s: Dropout in training mode' % where)
            self.alias[n.name] = x
        elif t is nn.Conv2d:
            if m.padding_mode != 'zeros':
                raise ExportError("%s: padding_mode '%s' is not supported" %
                                  (where, m.padding_mode))
            pad = m.padding
            if isinstance(pad, str):
                if pad != 'valid':
                    raise ExportError("%s: padding='%s' is not supported "
                                      "(use explicit numbers)" % (where, pad))
                pad = 0
            params = {'weight': m.weight}
            if m.bias is not None:
                params['bias'] = m.bias
            self.emit(n, 'conv2d', [x], dict(
                stride=_pair(m.stride, 'stride', where),
                padding=_pair(pad, 'padding', where),
                dilation=_pair(m.dilation, 'dilation', where),
                groups=int(m.groups)), params)
        elif t is nn.Linear:
            params = {'weight': m.weight}
            if m.bias is not None:
                params['bias'] = m.bias
            self.emit(n, 'linear', [x], {}, params)
        elif t is nn.BatchNorm2d:
            if m.training or m.running_mean is None:
                raise ExportError('%s: BatchNorm2d must be in eval mode with '
                                  'running statistics' % where)
            c = m.num_features
            self.emit(n, 'batchnorm2d', [x], dict(eps=float(m.eps)), dict(
                weight=m.weight if m.affine else torch.ones(c),
                bias=m.bias if m.affine else torch.zeros(c),
                running_mean=m.running_mean, running_var=m.running_var))
        elif t is nn.LayerNorm:
            shp = tuple(m.normalized_shape)
            aff = m.elementwise_affine
            self.emit(n, 'layernorm', [x], dict(
                eps=float(m.eps), normalized_shape=list(shp)), dict(
                weight=m.weight if aff else torch.ones(shp),
                bias=m.bias if aff else torch.zeros(shp)))
        elif t is nn.ReLU:
            self.emit(n, 'relu', [x])
        elif t is nn.GELU:
            if m.approximate != 'none':
                raise ExportError("%s: GELU approximate='%s' is not supported "
                                  "(only the erf form)" % (where,
                                                           m.approximate))
            self.emit(n, 'gelu', [x])
        elif t in (nn.MaxPool2d, nn.AvgPool2d):
            if m.ceil_mode:
                raise ExportError('%s: ceil_mode=True is not supported' %
                                  where)
            k = _pair(m.kernel_size, 'kernel_size', where)
            s = _pair(m.stride if m.stride is not None else m.kernel_size,
                      'stride', where)
            p = _pair(m.padding, 'padding', where)
            if t is nn.MaxPool2d:
                if _pair(m.dilation, 'dilation', where) != [1, 1] or \
                        m.return_indices:
                    raise ExportError('%s: dilation and return_indices are '
                                      'not supported' % where)
                self.emit(n, 'maxpool2d', [x], dict(kernel=k, stride=s,
                                                    padding=p))
            else:
                if m.divisor_override is not None:
                    raise ExportError('%s: divisor_override is not supported'
                                      % where)
                self.emit(n, 'avgpool2d', [x], dict(
                    kernel=k, stride=s, padding=p,
                    count_include_pad=int(bool(m.count_include_pad))))
        elif t is nn.AdaptiveAvgPool2d:
            s = self.shapes(n)[0]
            self.emit(n, 'adaptive_avgpool2d', [x],
                      dict(output_size=[s[-2], s[-1]]))
        elif t is nn.Flatten:
            self.emit(n, 'flatten', [x], dict(start_dim=int(m.start_dim),
                                              end_dim=int(m.end_dim)))
        elif t is nn.Softmax:
            if m.dim is None:
                raise ExportError('%s: Softmax needs an explicit dim' % where)
            self.emit(n, 'softmax', [x], dict(dim=int(m.dim)))
        else:
            raise ExportError('%s: unsupported module type %s' %
                              (where, t.__name__))

    def _arg(self, n, i, key, default, where):
        if len(n.args) > i:
            return self.const(n.args[i], where)
        return self.const(n.kwargs.get(key, default), where)

    def _check_kwargs(self, n, allowed, where):
        for k, v in n.kwargs.items():
            if k not in allowed and v is not None:
                raise ExportError('%s: keyword %s=%r is not supported' %
                                  (where, k, v))

    def call(self, n):
        where = _describe(n)
        t = n.target
        meth = n.op == 'call_method'

        def is_(fn_set, names):
            return (t in names) if meth else (t in fn_set)

        if is_({operator.add, operator.iadd, torch.add},
               {'add', 'add_'}) or \
                is_({operator.mul, operator.imul, torch.mul}, {'mul', 'mul_'}):
            op = 'add' if (t in (operator.add, operator.iadd, torch.add,
                                 'add', 'add_')) else 'mul'
            self._check_kwargs(n, (), where)
            if len(n.args) != 2:
                raise ExportError('%s: expected two operands' % where)
            a, b = n.args
            ta = isinstance(a, torch.fx.Node) and self.is_tensor(a)
            tb = isinstance(b, torch.fx.Node) and self.is_tensor(b)
            if ta and tb:
                self.emit(n, op, [self.tin(a, where), self.tin(b, where)])
            else:
                x, s = (a, b) if ta else (b, a)
                s = self.const(s, where)
                if isinstance(s, bool) or not isinstance(s, (int, float)):
                    raise ExportError('%s: operand %r is neither a tensor nor '
                                      'a number' % (where, s))
                self.emit(n, op, [self.tin(x, where)],
                          dict(scalar=float(s)))
        elif is_({operator.matmul, torch.matmul}, {'matmul'}):
            self._check_kwargs(n, (), where)
            if len(n.args) != 2:
                raise ExportError('%s: expected two operands' % where)
            self.emit(n, 'matmul', [self.tin(a, where) for a in n.args])
        elif is_({torch.softmax, F.softmax}, {'softmax'}):
            self._check_kwargs(n, ('dim', '_stacklevel'), where)
            dim = self._arg(n, 1, 'dim', None, where)
            if dim is None:
                raise ExportError('%s: softmax needs an explicit dim' % where)
            self.emit(n, 'softmax', [self.tin(n.args[0], where)],
                      dict(dim=int(dim)))
        elif is_({torch.relu, F.relu}, {'relu'}):
            self._check_kwargs(n, ('inplace',), where)
            self.emit(n, 'relu', [self.tin(n.args[0], where)])
        elif is_({F.gelu}, {'gelu'}):
            self._check_kwargs(n, ('approximate',), where)
            if n.kwargs.get('approximate', 'none') != 'none':
                raise ExportError('%s: only the erf form of GELU is '
                                  'supported' % where)
            self.emit(n, 'gelu', [self.tin(n.args[0], where)])
        elif is_({torch.flatten}, {'flatten'}):
            self._check_kwargs(n, ('start_dim', 'end_dim'), where)
            self.emit(n, 'flatten', [self.tin(n.args[0], where)], dict(
                start_dim=int(self._arg(n, 1, 'start_dim', 0, where)),
                end_dim=int(self._arg(n, 2, 'end_dim', -1, where))))
        elif is_({torch.reshape}, {'reshape', 'view'}):
            shape, mult = self.batch_shape(n, where)
            self.emit(n, 'reshape', [self.tin(n.args[0], where)],
                      dict(shape=shape, batch_mult=mult))
        elif is_({torch.permute}, {'permute'}):
            self._check_kwargs(n, ('dims',), where)
            dims = list(n.args[1:]) or [n.kwargs.get('dims')]
            dims = self.const(dims, where)
            if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
                dims = dims[0]
            self.emit(n, 'permute', [self.tin(n.args[0], where)],
                      dict(dims=[int(d) for d in dims]))
        elif is_({torch.transpose}, {'transpose'}):
            self._check_kwargs(n, ('dim0', 'dim1'), where)
            r = self.rank(n.args[0])
            d0 = int(self._arg(n, 1, 'dim0', None, where)) % r
            d1 = int(self._arg(n, 2, 'dim1', None, where)) % r
            dims = list(range(r))
            dims[d0], dims[d1] = dims[d1], dims[d0]
            self.emit(n, 'permute', [self.tin(n.args[0], where)],
                      dict(dims=dims))
        elif not meth and t in (torch.cat, torch.concat):
            self._check_kwargs(n, ('dim',), where)
            xs = n.args[0]
            if not isinstance(xs, (tuple, list)) or not xs:
                raise ExportError('%s: expected a list of tensors' % where)
            self.emit(n, 'cat', [self.tin(a, where) for a in xs],
                      dict(dim=int(self._arg(n, 1, 'dim', 0, where))))
        elif not meth and t is operator.getitem:
            self.getitem(n, where)
        elif is_({torch.mean}, {'mean'}):
            self._check_kwargs(n, ('dim', 'keepdim'), where)
            dim = self._arg(n, 1, 'dim', None, where)
            keep = self._arg(n, 2, 'keepdim', False, where)
            r = self.rank(n.args[0])
            if dim is None:
                dims = list(range(r))
            elif isinstance(dim, int):
                dims = [dim]
            else:
                dims = list(dim)
            self.emit(n, 'mean', [self.tin(n.args[0], where)],
                      dict(dims=[int(d) for d in dims],
                           keepdim=int(bool(keep))))
        elif meth and t == 'expand':
            shape, mult = self.batch_shape(n, where)
            self.emit(n, 'expand', [self.tin(n.args[0], where)],
                      dict(shape=shape, batch_mult=mult))
        elif meth and t == 'contiguous':
            self.alias[n.name] = self.tin(n.args[0], where)
        else:
            raise ExportError('%s: unsupported op' % where)

    def getitem(self, n, where):
        x = n.args[0]
        idx = self.const(n.args[1], where)
        if not isinstance(idx, tuple):
            idx = (idx,)
        r = self.rank(x)
        if sum(1 for i in idx if i is Ellipsis) > 1:
            raise ExportError('%s: more than one Ellipsis' % where)
        if Ellipsis in idx:
            k = idx.index(Ellipsis)
            fill = r - (len(idx) - 1)
            idx = idx[:k] + (slice(None),) * fill + idx[k + 1:]
        if len(idx) > r:
            raise ExportError('%s: %d indices for a rank-%d tensor' %
                              (where, len(idx), r))
        idx = idx + (slice(None),) * (r - len(idx))
        starts, stops, steps, squeeze = [], [], [], []
        for d, i in enumerate(idx):
            if isinstance(i, bool) or not isinstance(i, (int, slice)):
                raise ExportError('%s: index %r in dim %d is not supported '
                                  '(only slices and integers)' % (where, i, d))
            if isinstance(i, int):
                starts.append(i)
                stops.append(i + 1 if i != -1 else INT64_MAX)
                steps.append(1)
                squeeze.append(1)
                continue
            st = 1 if i.step is None else i.step
            if st < 1:
                raise ExportError('%s: slice step %r in dim %d (must be >= 1)'
                                  % (where, i.step, d))
            starts.append(0 if i.start is None else i.start)
            stops.append(INT64_MAX if i.stop is None else i.stop)
            steps.append(st)
            squeeze.append(0)
        self.emit(n, 'slice', [self.tin(x, where)],
                  dict(starts=starts, stops=stops, steps=steps,
                       squeeze=squeeze))


# ---- writing -----------------------------------------------------------------

def _np32(t):
    a = t.detach().cpu().to(torch.float32).numpy() if isinstance(
        t, torch.Tensor) else np.asarray(t, dtype=np.float32)
    return np.ascontiguousarray(a, dtype=np.float32)


def _write_param(g, name, t):
    a = _np32(t)
    if a.ndim == 0 or a.size < 64:
        g.create_dataset(name, data=a)
    else:
        g.create_dataset(name, data=a, compression='gzip',
                         compression_opts=4, shuffle=True)


def _set_attr(obj, k, v):
    if isinstance(v, str):
        obj.attrs[k] = str(v)  # plain str: h5py rejects str subclasses
    elif isinstance(v, bool):
        obj.attrs[k] = np.int64(int(v))
    elif isinstance(v, int):
        obj.attrs[k] = np.int64(v)
    elif isinstance(v, float):
        obj.attrs[k] = np.float64(v)
    elif isinstance(v, (list, tuple)):
        if all(isinstance(i, (int, np.integer)) for i in v):
            obj.attrs[k] = _ints(v)
        else:
            obj.attrs[k] = np.asarray(v, dtype=np.float64)
    else:
        raise TypeError('attribute %s: unsupported type %s' % (k, type(v)))


@torch.no_grad()
def _predict(module, x, batch=500):
    outs = []
    for i in range(0, x.shape[0], batch):
        outs.append(module(x[i:i + batch]).float())
    return torch.cat(outs)


def _as_tensor(a):
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(
        np.asarray(a))


def export(module, path, example_input_shape, model_name=None,
           num_classes=None, norm=None, splits=None, reference_input=None,
           extra_attrs=None):
    """Trace `module` and write it to `path` in the dnateq model schema.

    module               an nn.Module (put into eval mode here)
    path                 output .h5 file, written atomically (path.tmp, rename)
    example_input_shape  per-sample input shape, e.g. (1, 28, 28)
    model_name           stored as `model_name` (default: class name)
    num_classes          default: the output's last dim
    norm                 (mean, std) input normalisation, stored as
                         norm_mean/norm_std (default 0, 1: none)
    splits               optional {'val': (x, y), 'test': (x, y)} of
                         normalised inputs and int labels: stores PyTorch's
                         val/test top-1, /reference/logits (first 256 test
                         images), /reference/test_pred, /reference/test_margin
    reference_input      optional tensor (n, *example_input_shape): stores it
                         as /reference/input and the model's outputs as
                         /reference/output, for checking the C engine on
                         models without a dataset
    extra_attrs          optional dict of extra root attributes
    Returns a dict with the output node name and the node count.
    """
    module = module.eval()
    input_shape = tuple(int(d) for d in example_input_shape)
    gm = torch.fx.symbolic_trace(module)
    graph = _Graph(gm, input_shape)
    output = graph.translate()
    out_shape = graph.vals[0][[n for n in gm.graph.nodes
                               if n.op == 'output'][0].args[0]].shape
    if num_classes is None:
        num_classes = int(out_shape[-1])

    tmp = path + '.tmp'
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    try:
        with h5py.File(tmp, 'w') as f:
            root = dict(format=FORMAT, version=VERSION,
                        created_by=git_revision(), output=output,
                        input_shape=list(input_shape),
                        num_classes=int(num_classes),
                        model_name=model_name or type(module).__name__,
                        torch_version=torch.__version__,
                        norm_mean=float(norm[0]) if norm else 0.0,
                        norm_std=float(norm[1]) if norm else 1.0)
            root.update(extra_attrs or {})
            for k, v in root.items():
                _set_attr(f, k, v)
            nodes = f.create_group('nodes')
            for i, r in enumerate(graph.records):
                g = nodes.create_group(r['name'])
                _set_attr(g, 'index', i)
                _set_attr(g, 'op', r['op'])
                _set_attr(g, 'inputs', ','.join(r['inputs']))
                for k, v in r['attrs'].items():
                    _set_attr(g, k, v)
                for k, v in r['params'].items():
                    _write_param(g, k, v)
            if splits is not None or reference_input is not None:
                ref = f.create_group('reference')
            if splits is not None:
                for s in ('val', 'test'):
                    x, y = (_as_tensor(a) for a in splits[s])
                    logits = _predict(module, x.float())
                    correct = int((logits.argmax(1) == y.long()).sum())
                    _set_attr(f, s + '_correct', correct)
                    _set_attr(f, s + '_top1', correct / x.shape[0])
                    if s == 'test':
                        ref.create_dataset('logits',
                                           data=_np32(logits[:N_REFERENCE]))
                        top2 = logits.topk(2, dim=1).values
                        ref.create_dataset(
                            'test_pred', data=logits.argmax(1).numpy().astype(
                                np.int64), compression='gzip')
                        ref.create_dataset(
                            'test_margin', data=_np32(top2[:, 0] - top2[:, 1]),
                            compression='gzip')
            if reference_input is not None:
                x = _as_tensor(reference_input).float()
                ref.create_dataset('input', data=_np32(x))
                ref.create_dataset('output', data=_np32(_predict(module, x)))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dict(output=output, nodes=len(graph.records))


# ---- zoo command line ---------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Export a zoo model to the dnateq HDF5 model schema.')
    ap.add_argument('--model', required=True, help='zoo model name')
    ap.add_argument('--ckpt', help='state_dict (default data/zoo/ckpt/NAME.pt)')
    ap.add_argument('--out', help='output file (default data/zoo/NAME.h5)')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, HERE)
    import fmnist
    import models
    if args.model not in models.ZOO:
        ap.error('unknown model %r (choose from %s)' % (args.model,
                                                        models.ZOO))
    ckpt = args.ckpt or os.path.join(HERE, 'ckpt', args.model + '.pt')
    out = args.out or os.path.join(HERE, args.model + '.h5')
    model = models.build(args.model)
    model.load_state_dict(torch.load(ckpt, map_location='cpu'))
    splits, mean, std = fmnist.load()
    try:
        info = export(model, out, (1, fmnist.ROWS, fmnist.COLS),
                      model_name=args.model, num_classes=models.NUM_CLASSES,
                      norm=(mean, std),
                      splits={k: splits[k] for k in ('val', 'test')})
    except ExportError as e:
        sys.exit('export.py: %s: %s' % (args.model, e))
    with h5py.File(out, 'r') as f:
        print('%s: %d nodes, output %s, val %.4f (%d) test %.4f (%d), '
              '%.2f MB -> %s' % (args.model, info['nodes'], info['output'],
                                 f.attrs['val_top1'], f.attrs['val_correct'],
                                 f.attrs['test_top1'], f.attrs['test_correct'],
                                 os.path.getsize(out) / 1e6, out))


if __name__ == '__main__':
    main()
