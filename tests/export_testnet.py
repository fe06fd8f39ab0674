"""Exporter coverage model for tests/test_exporter.c.

    /usr/bin/python3 tests/export_testnet.py OUTDIR

Builds TestNet, a small random model that exercises every op the exporter
and the C engine support (grouped and depthwise conv, BatchNorm both
foldable and not, avg/max/adaptive pooling, cat, permute/transpose,
reshape/view with batch-dependent dims, expand of a parameter, slicing with
integers, steps and negative bounds, mean, scalar and tensor add/mul,
LayerNorm, GELU, matmul, softmax, Dropout/Identity/contiguous), and writes
OUTDIR/testnet.h5 with /reference/input (5 random images) and
/reference/output (PyTorch's outputs), for the C engine to match.

It also checks that an unsupported op (torch.tanh) is rejected with an
error naming the node and the op. Exit status 0 = all written and checked.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'data', 'zoo'))
import export  # noqa: E402


class TestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)                  # folded into conv1
        self.gconv = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)
        self.bn2 = nn.BatchNorm2d(8)                  # not foldable
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.avg = nn.AvgPool2d(2)
        self.avg2 = nn.AvgPool2d(3, stride=1, padding=1,
                                 count_include_pad=False)
        self.maxp = nn.MaxPool2d(3, stride=2, padding=1)
        self.gelu = nn.GELU()
        self.tok = nn.Parameter(torch.randn(1, 1, 16))
        self.register_buffer('shift', torch.randn(16))
        self.ln = nn.LayerNorm(16)
        self.qkv = nn.Linear(16, 48)
        self.proj = nn.Linear(16, 16)
        self.drop = nn.Dropout(0.25)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.ident = nn.Identity()
        self.head = nn.Linear(16 + 16 + 64 + 16 + 8, 10)

    def forward(self, x):
        B = x.size(0)
        a = F.relu(self.bn1(self.conv1(x)))           # B,8,28,28
        g = self.gconv(a)
        b = self.bn2(g) + g * 0.5                     # g feeds bn2 and mul
        q = self.avg2(self.avg(b))                    # B,8,14,14
        d = self.dw(a)                                # B,8,14,14
        c = torch.cat([q, d], dim=1)                  # B,16,14,14
        m = self.maxp(c)                              # B,16,7,7
        t = self.gelu(m.flatten(2).permute(0, 2, 1))  # B,49,16
        cls = self.tok.expand(B, -1, -1)              # B,1,16
        t = torch.cat([cls, t], 1) + self.shift       # B,50,16
        h = self.ln(t)
        qkv = self.qkv(h).view(B, -1, 3, 2, 8)        # B,50,3,2,8
        q_, k_, v_ = qkv[:, :, 0], qkv[:, :, 1], qkv[..., 2, :, :]
        q_ = q_.transpose(1, 2)                       # B,2,50,8
        k_ = k_.permute(0, 2, 3, 1)                   # B,2,8,50
        v_ = v_.transpose(1, 2).contiguous()          # B,2,50,8
        att = torch.softmax(q_ @ k_ * 0.35, dim=-1)
        o = torch.matmul(att, v_).transpose(1, 2).reshape(B, 50, 16)
        t = t + self.drop(self.proj(o))
        s = t[:, 1:].mean(dim=1)                      # B,16
        s2 = t[:, 0] + 1.0                            # B,16
        img = self.pool(m).reshape(x.shape[0], -1)    # B,64
        s3 = t[:, -3:, ::2].mean(1)                   # B,8
        z = torch.cat([s, s2 * s, img,
                       m.mean((2, 3), keepdim=True).view(B, 16), s3], dim=1)
        return self.head(self.ident(z))


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return torch.tanh(self.fc(x.flatten(1)))


def main():
    out = sys.argv[1]
    torch.manual_seed(7)
    torch.set_num_threads(2)
    net = TestNet()
    for bn in (net.bn1, net.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(5, 1, 28, 28)
    info = export.export(net, os.path.join(out, 'testnet.h5'), (1, 28, 28),
                         model_name='testnet', reference_input=x)
    print('export_testnet: %d nodes, output %s' % (info['nodes'],
                                                   info['output']))
    try:
        export.export(Unsupported(), os.path.join(out, 'bad.h5'),
                      (1, 28, 28))
    except export.ExportError as e:
        msg = str(e)
        print('export_testnet: unsupported op rejected: %s' % msg)
        if "node 'tanh'" not in msg or 'tanh' not in msg.split(')')[0]:
            sys.exit('export_testnet: error does not name the node and op')
        if os.path.exists(os.path.join(out, 'bad.h5')):
            sys.exit('export_testnet: a failed export left a file behind')
    else:
        sys.exit('export_testnet: torch.tanh was not rejected')


if __name__ == '__main__':
    main()
