#!/usr/bin/python3
"""PyTorch's values for the small optimizer case that tests/test_optim.c checks (torch_golden()).

Two parameters, p0 (3,) and p1 (2, 2), the loss sum(c * p + p^2 / 2) (gradient c + p), three steps
at learning rates 0.1, 0.05, 0.02 with torch.nn.utils.clip_grad_norm_ before each step when
clipping. Prints, per optimizer, the pre-clip gradient norm of every step and the parameters after
the last step, as C initializers to paste into the test.

    /usr/bin/python3 tools/optim_reference.py
"""
import torch

P0, P1 = [0.5, -1.0, 2.0], [[0.1, -0.2], [0.3, 0.4]]
C0, C1 = [1.0, -2.0, 0.5], [[-0.5, 0.25], [2.0, -1.0]]
LRS = [0.1, 0.05, 0.02]

CASES = [
    ("SGD momentum 0.9, weight decay 0.01, clip 1", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9,
                                                                               weight_decay=0.01), 1.0),
    ("SGD weight decay 0.1", lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.1), 0.0),
    ("Adam weight decay 0.1", lambda ps: torch.optim.Adam(ps, lr=0.1, weight_decay=0.1), 0.0),
    ("Adam clip 1", lambda ps: torch.optim.Adam(ps, lr=0.1), 1.0),
    ("AdamW betas (0.8, 0.99), eps 1e-3, clip 2", lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.8, 0.99),
                                                                               eps=1e-3), 2.0),
]


def run(make, clip):
    p0 = torch.tensor(P0, requires_grad=True)
    p1 = torch.tensor(P1, requires_grad=True)
    c0, c1 = torch.tensor(C0), torch.tensor(C1)
    opt = make([p0, p1])
    norms = []
    for lr in LRS:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss = (c0 * p0 + 0.5 * p0 * p0).sum() + (c1 * p1 + 0.5 * p1 * p1).sum()
        loss.backward()
        # The pre-clip norm, which clip_grad_norm_ also returns.
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in (p0, p1)]))
        if clip > 0:
            norm = torch.nn.utils.clip_grad_norm_([p0, p1], clip)
        norms.append(float(norm))
        opt.step()
    return norms, p0.detach().flatten().tolist() + p1.detach().flatten().tolist()


def main():
    print("torch", torch.__version__)
    for name, make, clip in CASES:
        norms, params = run(make, clip)
        print(f"/* {name} */")
        print("  {" + ", ".join(f"{v:.9g}f" for v in norms) + "},")
        print("  {" + ", ".join(f"{v:.9g}f" for v in params) + "},")


if __name__ == "__main__":
    main()
