"""Writes the TorchScript models of the TorchScript backend's tests, and torch's own outputs on test
rows, into the directory given as the only argument.

Run with the system Python and Debian's PyTorch (python3-torch; scripts/setup.sh torch), the same
version as the libtorch the backend links:

  mlp.pt        torch.jit.script of a seeded MLP, forward(x: [batch, 4] float32) -> [batch, 3]
  two_heads.pt  torch.jit.trace of a model taking two inputs, forward(a: [batch, 4] float32,
                b: [batch, 4] float32) -> (a + 2 b as float32 [batch, 4], argmax(a, 1) as int64
                [batch])
  reference.json  {"mlp": {"x": rows, "outputs": [output__0]},
                   "two_heads": {"a": rows, "b": rows, "outputs": [output__0, output__1]}}
"""

import json
import os
import sys

import torch


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.out(torch.relu(self.hidden(x))), dim=1)


class TwoHeads(torch.nn.Module):
    def forward(self, a, b):
        return a + 2 * b, torch.argmax(a, dim=1)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(7)
    reference = {}

    mlp = Mlp().eval()
    x = torch.randn(16, 4)
    scripted = torch.jit.script(mlp)
    scripted.save(os.path.join(out_dir, "mlp.pt"))
    with torch.no_grad():
        reference["mlp"] = {"x": x.tolist(), "outputs": [scripted(x).tolist()]}

    a = torch.randn(5, 4)
    b = torch.randn(5, 4)
    traced = torch.jit.trace(TwoHeads().eval(), (a, b))
    traced.save(os.path.join(out_dir, "two_heads.pt"))
    with torch.no_grad():
        sums, classes = traced(a, b)
    reference["two_heads"] = {
        "a": a.tolist(),
        "b": b.tolist(),
        "outputs": [sums.tolist(), classes.tolist()],
    }

    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
