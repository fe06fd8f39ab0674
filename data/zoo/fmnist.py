"""Fashion-MNIST loader and the data split used by the whole dnateq harness.

Files: the four idx .gz files of Debian's dataset-fashion-mnist package in
/usr/share/datasets/fashion-mnist (override the directory with the
environment variable DNATEQ_DATA).

Split (identical to the C loader):
  train = first 55,000 training images
  val   = last   5,000 training images (indices 55,000..59,999)
  test  = the 10,000 test images (used only to report)

Normalisation: x = (pixel / 255 - MEAN) / STD, where MEAN and STD are the
mean and (population) standard deviation of pixel / 255 over all pixels of
the 55,000-image train split, accumulated in float64 and then used as
float32 values. compute_stats() returns them; `python3 fmnist.py` prints them.
"""

import gzip
import os

import numpy as np

DEFAULT_DIR = '/usr/share/datasets/fashion-mnist'
FILES = {
    'train_images': 'train-images-idx3-ubyte.gz',
    'train_labels': 'train-labels-idx1-ubyte.gz',
    'test_images': 't10k-images-idx3-ubyte.gz',
    'test_labels': 't10k-labels-idx1-ubyte.gz',
}
N_TRAIN_FILE = 60000
N_TEST = 10000
N_TRAIN = 55000
N_VAL = 5000
ROWS = COLS = 28
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049


def data_dir():
    return os.environ.get('DNATEQ_DATA') or DEFAULT_DIR


def _read_gz(path):
    with gzip.open(path, 'rb') as f:
        return f.read()


def load_idx_images(path, expected_n):
    buf = _read_gz(path)
    if len(buf) < 16:
        raise ValueError('%s: truncated header' % path)
    magic, n, rows, cols = np.frombuffer(buf, dtype='>u4', count=4)
    if magic != IMAGE_MAGIC:
        raise ValueError('%s: bad magic %d (want %d)' %
                         (path, magic, IMAGE_MAGIC))
    if n != expected_n or rows != ROWS or cols != COLS:
        raise ValueError('%s: shape %dx%dx%d, want %dx%dx%d' %
                         (path, n, rows, cols, expected_n, ROWS, COLS))
    if len(buf) != 16 + n * rows * cols:
        raise ValueError('%s: payload %d bytes, want %d' %
                         (path, len(buf) - 16, n * rows * cols))
    return np.frombuffer(buf, dtype=np.uint8, offset=16).reshape(
        int(n), int(rows), int(cols)).copy()


def load_idx_labels(path, expected_n):
    buf = _read_gz(path)
    if len(buf) < 8:
        raise ValueError('%s: truncated header' % path)
    magic, n = np.frombuffer(buf, dtype='>u4', count=2)
    if magic != LABEL_MAGIC:
        raise ValueError('%s: bad magic %d (want %d)' %
                         (path, magic, LABEL_MAGIC))
    if n != expected_n:
        raise ValueError('%s: %d labels, want %d' % (path, n, expected_n))
    if len(buf) != 8 + n:
        raise ValueError('%s: payload %d bytes, want %d' %
                         (path, len(buf) - 8, n))
    lab = np.frombuffer(buf, dtype=np.uint8, offset=8).copy()
    if lab.max() > 9:
        raise ValueError('%s: label out of range' % path)
    return lab


def load_raw(directory=None):
    """Return uint8 images (N,28,28) and uint8 labels (N,) for the three
    splits as a dict {'train': (x, y), 'val': (x, y), 'test': (x, y)}."""
    d = directory or data_dir()
    p = {k: os.path.join(d, v) for k, v in FILES.items()}
    xtr = load_idx_images(p['train_images'], N_TRAIN_FILE)
    ytr = load_idx_labels(p['train_labels'], N_TRAIN_FILE)
    xte = load_idx_images(p['test_images'], N_TEST)
    yte = load_idx_labels(p['test_labels'], N_TEST)
    return {
        'train': (xtr[:N_TRAIN], ytr[:N_TRAIN]),
        'val': (xtr[N_TRAIN:], ytr[N_TRAIN:]),
        'test': (xte, yte),
    }


def compute_stats(train_images):
    """Mean and population std of pixel/255 over the train split, computed
    in float64 and returned as Python floats (use them as float32)."""
    x = train_images.astype(np.float64) / 255.0
    mean = float(x.mean())
    std = float(x.std())
    return mean, std


def normalise(images, mean, std):
    """uint8 (N,28,28) -> float32 (N,1,28,28): (pixel/255 - mean)/std."""
    x = images.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(mean)) / np.float32(std)
    return x.reshape(images.shape[0], 1, ROWS, COLS).astype(np.float32)


def load(directory=None):
    """Return (splits, mean, std) where splits maps 'train'/'val'/'test' to
    (float32 images (N,1,28,28), int64 labels (N,)), normalised with the
    train-split statistics."""
    raw = load_raw(directory)
    mean, std = compute_stats(raw['train'][0])
    splits = {k: (normalise(x, mean, std), y.astype(np.int64))
              for k, (x, y) in raw.items()}
    return splits, mean, std


if __name__ == '__main__':
    raw = load_raw()
    mean, std = compute_stats(raw['train'][0])
    for k, (x, y) in raw.items():
        print('%-5s images %s labels %s  class counts %s' %
              (k, x.shape, y.shape, np.bincount(y, minlength=10).tolist()))
    print('data dir %s' % data_dir())
    print('train mean %.10f std %.10f' % (mean, std))
    print('as float32: mean %.9g std %.9g' % (np.float32(mean),
                                              np.float32(std)))
