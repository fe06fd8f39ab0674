"""Train the dnateq model zoo on Fashion-MNIST (the recipe behind data/zoo).

Usage (from the repository root, with Debian's python3-torch):

    /usr/bin/python3 data/zoo/train.py [--models mlp,alexnet,resnet20,vit]
        [--threads 2] [--seed 0] [--epochs-scale 1.0] [--out data/zoo/ckpt]
        [--log data/zoo/train_log.json] [--train-subset N]

For each model: fixed seeds (python, numpy, torch; re-seeded per model so a
model trains identically whether alone or with the others), seeded
torch.Generator for shuffling and augmentation, deterministic algorithms
where torch supports them, a fixed thread count. The checkpoint kept is the
epoch with the best validation accuracy (the last 5,000 training images);
test accuracy is only measured, once, on that checkpoint. Writes
<out>/<name>.pt (state_dict) and a JSON log.
"""

import argparse
import copy
import json
import math
import os
import platform
import random
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fmnist  # noqa: E402
import models  # noqa: E402

BLAS_LINK = '/usr/lib/x86_64-linux-gnu/libblas.so.3'

# Per-model recipe. Epoch counts are chosen so the whole zoo trains in
# roughly half an hour on 2 threads (measured here, 2 threads, per epoch incl.
# validation: mlp ~3 s, alexnet ~68 s, resnet20 ~65 s, vit ~19 s). 'flip' = random horizontal flip
# (deterministic through the seeded generator).
RECIPES = {
    'mlp': dict(epochs=15, batch=128, opt='adamw', lr=1e-3, wd=1e-4,
                warmup=0.05, flip=False, label_smoothing=0.0),
    'alexnet': dict(epochs=10, batch=128, opt='adamw', lr=1e-3, wd=1e-4,
                    warmup=0.05, flip=True, label_smoothing=0.0),
    'resnet20': dict(epochs=10, batch=128, opt='sgd', lr=0.1, wd=5e-4,
                     momentum=0.9, warmup=0.05, flip=True,
                     label_smoothing=0.0),
    'vit': dict(epochs=24, batch=128, opt='adamw', lr=2e-3, wd=0.05,
                warmup=0.1, flip=True, label_smoothing=0.0),
}


def blas_info():
    info = {'libblas_so_3': os.path.realpath(BLAS_LINK)}
    cfg = torch.__config__.show()
    m = re.search(r'BLAS_INFO=([^,\s]+)', cfg)
    info['torch_blas_info'] = m.group(1) if m else None
    m = re.search(r'LAPACK_INFO=([^,\s]+)', cfg)
    info['torch_lapack_info'] = m.group(1) if m else None
    loaded = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and re.search(r'blas|lapack',
                                                 parts[-1]):
                    loaded.add(parts[-1])
    except OSError:
        pass
    info['loaded_blas_libs'] = sorted(loaded)
    return info


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(model, r):
    # No weight decay on biases, norm parameters, tokens and embeddings.
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if p.ndim <= 1 or n.endswith('cls_token') or n.endswith('pos_embed'):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{'params': decay, 'weight_decay': r['wd']},
              {'params': no_decay, 'weight_decay': 0.0}]
    if r['opt'] == 'sgd':
        return torch.optim.SGD(groups, lr=r['lr'], momentum=r['momentum'],
                               nesterov=True)
    return torch.optim.AdamW(groups, lr=r['lr'])


def make_schedule(opt, total_steps, warmup_frac):
    warm = max(1, int(round(warmup_frac * total_steps)))

    def f(step):
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    loss = 0.0
    for i in range(0, x.shape[0], batch):
        out = model(x[i:i + batch])
        loss += nn.functional.cross_entropy(out, y[i:i + batch],
                                            reduction='sum').item()
        correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0], loss / x.shape[0]


def train_one(name, data, args, deterministic):
    r = dict(RECIPES[name])
    epochs = max(1, int(round(r['epochs'] * args.epochs_scale)))
    seed_everything(args.seed)
    model = models.build(name)
    nparams = models.param_count(model)
    gen = torch.Generator().manual_seed(args.seed)
    xtr, ytr = data['train']
    xva, yva = data['val']
    xte, yte = data['test']
    n = xtr.shape[0]
    steps_per_epoch = (n + r['batch'] - 1) // r['batch']
    opt = make_optimizer(model, r)
    sched = make_schedule(opt, epochs * steps_per_epoch, r['warmup'])
    crit = nn.CrossEntropyLoss(label_smoothing=r['label_smoothing'])

    print('== %s: %d params, %d epochs x %d steps, recipe %s' %
          (name, nparams, epochs, steps_per_epoch, r), flush=True)
    best = (-1.0, -1, None)
    history = []
    t_start = time.time()
    for ep in range(epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot_loss = 0.0
        tot_correct = 0
        for i in range(0, n, r['batch']):
            idx = perm[i:i + r['batch']]
            xb = xtr[idx]
            yb = ytr[idx]
            if r['flip']:
                mask = torch.rand(xb.shape[0], generator=gen) < 0.5
                xb = torch.where(mask.view(-1, 1, 1, 1), xb.flip(3), xb)
            out = model(xb)
            loss = crit(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.item() * xb.shape[0]
            tot_correct += (out.argmax(1) == yb).sum().item()
        t_train = time.time() - t0
        val_acc, val_loss = evaluate(model, xva, yva)
        dt = time.time() - t0
        rec = dict(epoch=ep + 1, train_loss=tot_loss / n,
                   train_acc=tot_correct / n, val_loss=val_loss,
                   val_top1=val_acc, seconds=dt, train_seconds=t_train,
                   lr_end=opt.param_groups[0]['lr'])
        history.append(rec)
        if val_acc > best[0]:
            best = (val_acc, ep + 1, copy.deepcopy(model.state_dict()))
        print('[%s] epoch %2d/%d  loss %.4f  train %.4f  val_loss %.4f  '
              'val %.4f  %.1fs (total %.0fs)%s' %
              (name, ep + 1, epochs, rec['train_loss'], rec['train_acc'],
               val_loss, val_acc, dt, time.time() - t_start,
               '  *best' if best[1] == ep + 1 else ''), flush=True)
    seconds = time.time() - t_start
    model.load_state_dict(best[2])
    val_acc, _ = evaluate(model, xva, yva)
    test_acc, _ = evaluate(model, xte, yte)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name + '.pt')
    torch.save(best[2], path)
    print('[%s] done in %.0fs: best epoch %d  val %.4f  test %.4f  -> %s' %
          (name, seconds, best[1], val_acc, test_acc, path), flush=True)
    return dict(epochs=epochs, best_epoch=best[1], seconds=seconds,
                threads=torch.get_num_threads(), seed=args.seed,
                val_top1=val_acc, test_top1=test_acc, params=nparams,
                torch_version=torch.__version__,
                deterministic_algorithms=deterministic,
                checkpoint=os.path.relpath(path),
                train_subset=n, recipe=r, history=history)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=','.join(models.ZOO))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--epochs-scale', type=float, default=1.0)
    ap.add_argument('--out', default=os.path.join(HERE, 'ckpt'))
    ap.add_argument('--log', default=None,
                    help='JSON log (default: <out>/../train_log.json)')
    ap.add_argument('--train-subset', type=int, default=0,
                    help='use only the first N train images (smoke tests)')
    args = ap.parse_args()
    names = [s for s in args.models.split(',') if s]
    for s in names:
        if s not in models.ZOO:
            ap.error('unknown model %r (choose from %s)' % (s, models.ZOO))
    log_path = args.log or os.path.join(
        os.path.dirname(os.path.abspath(args.out)), 'train_log.json')

    torch.set_num_threads(args.threads)
    deterministic = True
    try:
        torch.use_deterministic_algorithms(True)
    except Exception as e:  # pragma: no cover
        deterministic = False
        print('warning: deterministic algorithms unavailable: %s' % e)
    blas = blas_info()
    print('python %s, torch %s, numpy %s, %s' %
          (platform.python_version(), torch.__version__, np.__version__,
           platform.machine()))
    print('libblas.so.3 -> %s' % blas['libblas_so_3'])
    print('torch BLAS_INFO=%s LAPACK_INFO=%s; loaded: %s' %
          (blas['torch_blas_info'], blas['torch_lapack_info'],
           ', '.join(blas['loaded_blas_libs']) or '(none yet)'))
    print('threads %d (interop %d), deterministic algorithms %s, seed %d' %
          (torch.get_num_threads(), torch.get_num_interop_threads(),
           deterministic, args.seed), flush=True)

    splits, mean, std = fmnist.load()
    data = {k: (torch.from_numpy(x), torch.from_numpy(y))
            for k, (x, y) in splits.items()}
    if args.train_subset:
        x, y = data['train']
        data['train'] = (x[:args.train_subset], y[:args.train_subset])
    print('data %s: train %d val %d test %d, mean %.10f std %.10f' %
          (fmnist.data_dir(), data['train'][0].shape[0],
           data['val'][0].shape[0], data['test'][0].shape[0], mean, std),
          flush=True)

    log = {}
    if os.path.exists(log_path):
        try:
            with open(log_path) as f:
                log = json.load(f)
        except (OSError, ValueError):
            log = {}
    log.setdefault('models', {})
    blas = blas_info()  # now with the libraries torch actually loaded
    for name in names:
        res = train_one(name, data, args, deterministic)
        res['blas'] = blas['libblas_so_3']
        log['models'][name] = res
        log.update(
            dataset=dict(dir=fmnist.data_dir(), train=fmnist.N_TRAIN,
                         val=fmnist.N_VAL, test=fmnist.N_TEST,
                         mean=mean, std=std,
                         split='train = first 55000 train images, '
                               'val = last 5000 train images, '
                               'test = 10000 test images'),
            torch_version=torch.__version__, numpy_version=np.__version__,
            python_version=platform.python_version(), blas=blas,
            total_params=sum(m['params'] for m in log['models'].values()))
        with open(log_path + '.tmp', 'w') as f:
            json.dump(log, f, indent=2, sort_keys=True)
            f.write('\n')
        os.replace(log_path + '.tmp', log_path)
    print('wrote %s' % log_path)
    print('%-9s %7s %6s %8s %7s %7s' %
          ('model', 'params', 'epochs', 'seconds', 'val', 'test'))
    for name in names:
        m = log['models'][name]
        print('%-9s %7d %6d %8.0f %7.4f %7.4f' %
              (name, m['params'], m['epochs'], m['seconds'], m['val_top1'],
               m['test_top1']))


if __name__ == '__main__':
    main()
