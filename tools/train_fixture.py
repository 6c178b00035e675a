#!/usr/bin/python3
"""Reference training run for tests/test_train_ref.c, with Debian's python3-torch.

A small convolutional classifier (conv -> batchnorm -> relu -> strided conv -> relu -> linear) is
trained for 20 Adam steps from a fixed initialization on 20 fixed batches of random 8x8 images,
labelled by a fixed random projection so that the loss falls.
Writes the initial weights, the batches, the loss of every step and the final weights to a
safetensors file (the format is written here directly, so no extra package is needed).

    /usr/bin/python3 tools/train_fixture.py tests/fixtures/train_ref.safetensors
"""
import json
import struct
import sys

import torch
import torch.nn as nn

STEPS, BATCH, CLASSES = 20, 8, 10


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        # No bias before batchnorm: batchnorm cancels it, so its true gradient is zero and Adam would
        # turn rounding noise into full-size steps (in PyTorch and in vkgen alike).
        self.conv1 = nn.Conv2d(1, 4, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, CLASSES)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def save(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    torch.manual_seed(1234)
    net = Net()
    out = {"init." + k: v.clone() for k, v in net.state_dict().items() if "num_batches" not in k}
    xs = torch.randn(STEPS, BATCH, 1, 8, 8)
    # Labels the net can learn: the class of a fixed random projection of each image.
    proj = torch.randn(64, CLASSES)
    ys = (xs.flatten(2) @ proj).argmax(-1).to(torch.int32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(xs[s]), ys[s].long())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out.update({"final." + k: v.clone() for k, v in net.state_dict().items() if "num_batches" not in k})
    out["x"], out["y"], out["losses"] = xs, ys, torch.tensor(losses)
    save(sys.argv[1], out, {"torch": torch.__version__, "optimizer": "Adam lr=1e-2", "steps": str(STEPS)})
    print("losses:", " ".join(f"{l:.6f}" for l in losses))


if __name__ == "__main__":
    main()
