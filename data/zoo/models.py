"""Model zoo for the dnateq harness: four small Fashion-MNIST classifiers.

Every model is a plain nn.Module that torch.fx.symbolic_trace can trace (no
data-dependent Python control flow) and that uses only a small set of layers
and tensor operations, so that the HDF5 exporter and the C inference engine
can handle the traced graph:

  modules:   Conv2d, Linear, BatchNorm2d, LayerNorm, ReLU, GELU, MaxPool2d,
             AvgPool2d, AdaptiveAvgPool2d, Flatten, Dropout, Identity
  functions: add/+, mul/*, matmul, softmax, flatten, reshape/view,
             permute/transpose, cat, getitem, mean, expand, parameter access

Input to every model: float32 tensor of shape (B, 1, 28, 28), normalised as in
fmnist.py. Output: logits of shape (B, 10).

Run `/usr/bin/python3 data/zoo/models.py` to trace every model and print its
parameter count.
"""

import torch
import torch.nn as nn

ZOO = ['mlp', 'alexnet', 'resnet20', 'vit']
NUM_CLASSES = 10


class MLP(nn.Module):
    """784-512-256-10 fully connected network with ReLU."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 512)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(512, 256)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.flatten(x)
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)


class AlexNet(nn.Module):
    """AlexNet-style CNN for 1x28x28 inputs.

    Three conv stages (64, 128, 256 channels; 3x3, padding 1), each followed
    by ReLU and 2x2 max pooling: 28 -> 14 -> 7 -> 3. The classifier is a stack
    of large fully connected layers with Dropout (2304-768-512-10) that hold
    most (~85%) of the ~2.54 M weights, as in the original AlexNet.
    """

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),                       # 64 x 14 x 14
            nn.Conv2d(64, 128, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),                       # 128 x 7 x 7
            nn.Conv2d(128, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),                       # 256 x 3 x 3
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 3 * 3, 768),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(768, 512),
            nn.ReLU(),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.flatten(x)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """ResNet basic block; option-B (1x1 conv + BN) projection shortcut when
    the shape changes, identity otherwise."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride,
                               padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        if stride != 1 or in_planes != planes:
            # Decided at construction time, so the traced graph is static.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride,
                          bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return self.relu2(out)


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (3 stages x 3 basic blocks, 16/32/64 channels)
    for 1-channel 28x28 inputs: 28 -> 28 -> 14 -> 7, global average pool."""

    def __init__(self, num_classes=NUM_CLASSES, num_blocks=(3, 3, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        in_planes = 16
        stages = []
        for planes, n, stride in zip((16, 32, 64), num_blocks, (1, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes,
                                         stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.avgpool(x)
        x = self.flatten(x)
        return self.fc(x)


class Attention(nn.Module):
    """Multi-head self-attention written out explicitly (no fused kernels)."""

    def __init__(self, dim=64, heads=4):
        super().__init__()
        assert dim % heads == 0
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5   # python float constant
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B = x.shape[0]
        N = x.shape[1]
        C, H, D = self.dim, self.heads, self.head_dim
        qkv = self.qkv(x)                                   # B, N, 3C
        q = qkv[:, :, 0:C]
        k = qkv[:, :, C:2 * C]
        v = qkv[:, :, 2 * C:3 * C]
        q = q.reshape(B, N, H, D).permute(0, 2, 1, 3)       # B, H, N, D
        k = k.reshape(B, N, H, D).permute(0, 2, 1, 3)
        v = v.reshape(B, N, H, D).permute(0, 2, 1, 3)
        attn = torch.matmul(q, k.transpose(-2, -1)) * self.scale  # B,H,N,N
        attn = attn.softmax(dim=-1)
        out = torch.matmul(attn, v)                          # B, H, N, D
        out = out.permute(0, 2, 1, 3).reshape(B, N, C)       # B, N, C
        return self.proj(out)


class Block(nn.Module):
    """Pre-LayerNorm transformer encoder block."""

    def __init__(self, dim=64, heads=4, mlp_ratio=2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return x


class ViT(nn.Module):
    """Small Vision Transformer: 7x7 patches (16 of them), class token,
    learned positional embedding, 4 pre-LN blocks of dim 64 with 4 heads."""

    def __init__(self, num_classes=NUM_CLASSES, dim=64, depth=4, heads=4,
                 mlp_ratio=2, patch=7):
        super().__init__()
        self.dim = dim
        num_patches = (28 // patch) * (28 // patch)
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.blocks = nn.Sequential(
            *[Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)                          # B, C, 4, 4
        x = x.flatten(2)                                 # B, C, 16
        x = x.transpose(1, 2)                            # B, 16, C
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # B, 1, C
        x = torch.cat([cls, x], dim=1)                   # B, 17, C
        x = x + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        x = x[:, 0]                                      # B, C
        return self.head(x)


_BUILDERS = {
    'mlp': MLP,
    'alexnet': AlexNet,
    'resnet20': ResNet20,
    'vit': ViT,
}


def build(name):
    """Return a freshly initialised model of the given zoo name."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise ValueError('unknown model %r; choose from %s' % (name, ZOO))


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def _check():
    import torch.fx
    total = 0
    x = torch.randn(3, 1, 28, 28)
    for name in ZOO:
        torch.manual_seed(0)
        m = build(name).eval()
        gm = torch.fx.symbolic_trace(m)
        with torch.no_grad():
            y0 = m(x)
            y1 = gm(x)
        assert y0.shape == (3, NUM_CLASSES), y0.shape
        assert torch.allclose(y0, y1), name
        ops = sorted({n.op + ':' + (n.target if isinstance(n.target, str)
                                    else getattr(n.target, '__name__',
                                                 str(n.target)))
                      for n in gm.graph.nodes
                      if n.op in ('call_function', 'call_method')})
        mods = sorted({type(gm.get_submodule(n.target)).__name__
                       for n in gm.graph.nodes if n.op == 'call_module'})
        n = param_count(m)
        total += n
        print('%-9s params %9d  fx nodes %4d  modules %s' %
              (name, n, len(gm.graph.nodes), ','.join(mods)))
        print('          ops %s' % ', '.join(ops))
    print('total     params %9d  (fp32 %.2f MB)' % (total, total * 4 / 1e6))
    assert total < 4_000_000, 'zoo exceeds the 4.0 M parameter budget'


if __name__ == '__main__':
    _check()
