"""PyTorch side of `make bench`: images/s of a zoo model on the test split.

    /usr/bin/python3 data/zoo/bench_torch.py --model NAME [--threads 2]
        [--batch 256] [--repeats 3] [--ckpt data/zoo/ckpt/NAME.pt]

Same protocol as the C driver experiments/bench_engine.c: eval mode, no
autograd, the 10,000 normalised test images in batches of 256, one warm-up
batch, then `repeats` timed passes over the whole split; the best pass is
reported. The weights come from the checkpoint when it exists, else the
model is freshly initialised (speed does not depend on the values).
Last line: images_per_s=<float>.
"""

import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fmnist  # noqa: E402
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--ckpt')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = models.build(args.model).eval()
    ckpt = args.ckpt or os.path.join(HERE, 'ckpt', args.model + '.pt')
    if os.path.exists(ckpt):
        model.load_state_dict(torch.load(ckpt, map_location='cpu'))
    raw = fmnist.load_raw()
    mean, std = fmnist.compute_stats(raw['train'][0])
    x = torch.from_numpy(fmnist.normalise(raw['test'][0], mean, std))
    n = x.shape[0]
    batches = [x[i:i + args.batch] for i in range(0, n, args.batch)]
    best = None
    with torch.no_grad():
        model(batches[0])  # warm-up
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for b in batches:
                model(b)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    print('%s: torch %s, %d threads, batch %d: %.3f s per %d images' %
          (args.model, torch.__version__, torch.get_num_threads(), args.batch,
           best, n))
    print('images_per_s=%.1f' % (n / best))


if __name__ == '__main__':
    main()
