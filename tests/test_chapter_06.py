"""Chapter 06: the solutions score full marks, the stubs zero, doing nothing zero; each
requirement of a prompt has a submission that breaks it alone and loses exactly its checks;
a broken load_array costs train_concise nothing; the training checks are calibrated; each
self-check judges its own exercise; the prose quotes its outputs right and its equations fit
a phone."""
import re
import textwrap

import pytest

from autograder.checks import ch06_linear_regression_concise as checks
from tests import book_text, prose
from tests.calibration import assert_calibrated, calibrate
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "06_linear_regression_concise"


def req(req_id: str, **kwargs) -> Case:
    return requirement_case(CHAPTER, req_id, **kwargs)


def loader(body: str = "data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)") -> str:
    return f"\ndef load_array(data_arrays, batch_size, is_train=True):\n    return {body}\n"


def huber(body: str = "torch.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta))",
          r: str = "(y_hat - y.reshape(y_hat.shape)).abs()") -> str:
    return f"\ndef huber_loss(y_hat, y, delta=1.0):\n    r = {r}\n    return {body}\n"


def train(net: str = "nn.Sequential(nn.Linear(features.shape[1], 1))",
          init: str = "net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(0)",
          data_iter: str = "load_array((features, labels), batch_size, is_train=True)",
          trainer: str = "torch.optim.SGD(net.parameters(), lr=lr)", epochs: str = "range(num_epochs)",
          batches: str = "for X, y in data_iter:",
          body: str = "l = loss(net(X), y)\n            trainer.zero_grad()\n            l.backward()\n            trainer.step()",
          before: str = "", returns: str = "net") -> str:
    """A train_concise built from the recipe's steps, so that each variant or bug says what it changes."""
    return f"""
def train_concise(features, labels, num_epochs, lr, batch_size, loss):
    {before}
    net = {net}
    {init}
    data_iter = {data_iter}
    trainer = {trainer}
    for epoch in {epochs}:
        {batches}
            {body}
    return {returns}
"""


STEP = "l = loss(net(X), y)\n            trainer.zero_grad()\n            l.backward()\n            trainer.step()"
OWN_GENERATOR = loader("data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train, "
                       "generator=torch.Generator().manual_seed(0))")

CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    # -- load_array; a broken one costs train_concise nothing --------------------------------
    req("load_array.dataset", replace={"load_array": loader(
        "data.DataLoader(list(zip(*data_arrays)), batch_size, shuffle=is_train)")},
        messages={"load_array": "a DataLoader over a list"}),
    req("load_array.dataloader", replace={"load_array": """
        def load_array(data_arrays, batch_size, is_train=True):
            X, y = data_arrays
            idx = torch.randperm(len(X)) if is_train else torch.arange(len(X))
            return [(X[idx[i:i + batch_size]], y[idx[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
        """}, messages={"load_array": "expected a torch.utils.data.DataLoader"}),
    req("load_array.batch_size", replace={"load_array": loader(
        "data.DataLoader(data.TensorDataset(*data_arrays), 10, shuffle=is_train)")},
        messages={"load_array": "pass batch_size to the DataLoader"}),
    req("load_array.in_order", replace={"load_array": loader(
        "data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=True)")},
        messages={"load_array": "stored order"}),
    req("load_array.shuffles", replace={"load_array": loader(
        "data.DataLoader(data.TensorDataset(*data_arrays), batch_size)")},
        messages={"load_array": "must shuffle"}),
    req("load_array.global_rng", replace={"load_array": OWN_GENERATOR},
        messages={"load_array": "no generator", "train_concise": "graded with a working `load_array`"}),
    # -- huber_loss -----------------------------------------------------------------------
    req("huber_loss.formula", replace={"huber_loss": huber("torch.where(r <= delta, 0.5 * r ** 2, r - 0.5 * delta)")},
        messages={"huber_loss": "without the factor delta"}),
    req("huber_loss.shape", replace={"huber_loss": huber(r="(y_hat - y).abs()")},
        messages={"huber_loss": "broadcast against an (n,)"}),
    req("huber_loss.differentiable", replace={"huber_loss": huber(
        "torch.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta)).detach()")},
        messages={"huber_loss": "does not require grad"}),
    req("huber_loss.by_hand", replace={"huber_loss": """
        def huber_loss(y_hat, y, delta=1.0):
            return nn.functional.huber_loss(y_hat, y.reshape(y_hat.shape), reduction='none', delta=delta)
        """}, messages={"huber_loss": "nn.functional.huber_loss"}),
    # -- train_concise --------------------------------------------------------------------
    req("train_concise.layer", replace={"train_concise": train(net="nn.Sequential(nn.Linear(2, 1))")},
        messages={"train_concise": "must take features.shape[1] inputs"}),
    req("train_concise.initialisation", replace={"train_concise": train(init="")},
        messages={"train_concise": "already the first minibatch's loss differs"}),
    req("train_concise.load_array", replace={"train_concise": train(
        data_iter="data.DataLoader(data.TensorDataset(features, labels), batch_size, shuffle=True)")},
        messages={"train_concise": "did not read the data through your load_array"}),
    req("train_concise.optimizer", replace={"train_concise": train(
        trainer="torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)")},
        messages={"train_concise": "mean minibatch loss in epoch 1"}),
    req("train_concise.loop", replace={"train_concise": train(
        body="l = loss(net(X), y)\n            l.backward()\n            trainer.step()")},
        messages={"train_concise": "gradients never zeroed"}),
    req("train_concise.given_loss", replace={"train_concise": train(body=STEP.replace("loss(net(X), y)", "nn.MSELoss()(net(X), y)"))},
        messages={"train_concise": "never called the loss it was given"}),
    req("train_concise.no_seed", replace={"train_concise": train(before="torch.manual_seed(0)")},
        messages={"train_concise": "no seed set inside"}),
    req("train_concise.returns", replace={"train_concise": train(returns="None")},
        messages={"train_concise": "returned a NoneType"}),
    # -- get_w_b_grads --------------------------------------------------------------------
    req("get_w_b_grads.gradients", replace={"get_w_b_grads": """
        def get_w_b_grads(net):
            return net[0].weight, net[0].bias
        """}, messages={"get_w_b_grads": "returned the weight itself"}),
    req("get_w_b_grads.copies", replace={"get_w_b_grads": """
        def get_w_b_grads(net):
            return net[0].weight.grad, net[0].bias.grad
        """}, messages={"get_w_b_grads": "doubled when backward() ran a second time"}),
    # -- other realistic submissions ------------------------------------------------------
    Case("grads_flattened", replace={"get_w_b_grads": """
        def get_w_b_grads(net):
            return net[0].weight.grad.reshape(-1), net[0].bias.grad
        """}, scores={"get_w_b_grads": 0}, messages={"get_w_b_grads": "returned shape"}),
    Case("load_array_cell_deleted", delete=("load_array",), scores={"load_array": 0},
         messages={"load_array": "missing", "train_concise": "graded with a working `load_array`"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch06"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


# -- calibration of the training checks ---------------------------------------------------------
VARIANTS = {
    "reference": train(),
    "zero_grad_first": train(body="trainer.zero_grad()\n            l = loss(net(X), y)\n            l.backward()\n            trainer.step()"),
    "net_zero_grad": train(body=STEP.replace("trainer.zero_grad()", "net.zero_grad()")),
    "nn_init": train(init="nn.init.normal_(net[0].weight, 0, 0.01)\n    nn.init.zeros_(net[0].bias)"),
    "no_grad_init": train(init="with torch.no_grad():\n        net[0].weight.normal_(0, 0.01)\n        net[0].bias.fill_(0)"),
    "bias_zero_": train(init="net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.zero_()"),
    "positional_lr": train(trainer="torch.optim.SGD(net.parameters(), lr)"),
    "loader_every_epoch": train(data_iter="None", batches="for X, y in load_array((features, labels), batch_size, is_train=True):"),
    "enumerate": train(batches="for i, (X, y) in enumerate(data_iter):"),
    "zero_after_step": train(body="l = loss(net(X), y)\n            l.backward()\n            trainer.step()\n            trainer.zero_grad()"),
    "zeros_kept": train(body=STEP.replace("trainer.zero_grad()", "trainer.zero_grad(set_to_none=False)")),
    "layer_first": train(net="nn.Sequential(layer := nn.Linear(features.shape[1], 1))",
                         init="layer.weight.data.normal_(0, 0.01)\n    layer.bias.data.fill_(0)"),
    "size_1": train(net="nn.Sequential(nn.Linear(features.size(1), 1))"),
    "last_dim": train(net="nn.Sequential(nn.Linear(features.shape[-1], 1))"),
    "summed_loss_scaled_lr": train(trainer="torch.optim.SGD(net.parameters(), lr=lr / batch_size)",
                                   body=STEP.replace("l = loss(net(X), y)", "l = loss(net(X), y) * len(X)")),
    "float64_model": train(init="net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(0)\n    net = net.double()",
                           body=STEP.replace("loss(net(X), y)", "loss(net(X.double()), y.double())")),
    "momentum_zero": train(trainer="torch.optim.SGD(net.parameters(), lr=lr, momentum=0)"),
    "default_is_train": train(data_iter="load_array((features, labels), batch_size)"),
    "batch_unpack": train(batches="for batch in data_iter:\n            X, y = batch"),
    "train_eval_modes": train(before="pass", trainer="torch.optim.SGD(net.parameters(), lr=lr)\n    net.train()",
                              returns="net.eval()"),
    "parameter_list": train(trainer="torch.optim.SGD(list(net.parameters()), lr=lr)"),
    "backward_of_sum": train(body=STEP.replace("l.backward()", "l.sum().backward()")),
}
BUGS = {  # bug → the training checks that must catch it (all three unless named)
    "never_zeroes": (train(body="l = loss(net(X), y)\n            l.backward()\n            trainer.step()"), None),
    "step_before_backward": (train(body="l = loss(net(X), y)\n            trainer.zero_grad()\n            trainer.step()\n            l.backward()"), None),
    "zero_between_backward_and_step": (train(body="l = loss(net(X), y)\n            l.backward()\n            trainer.zero_grad()\n            trainer.step()"), None),
    "forgets_backward": (train(body="l = loss(net(X), y)\n            trainer.zero_grad()\n            trainer.step()"), None),
    "lr_times_batch_size": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr * batch_size)"), ("trajectory", "same_draws")),
    "lr_over_batch_size": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr / batch_size)"), None),
    "lr_hard_coded_small": (train(trainer="torch.optim.SGD(net.parameters(), lr=0.003)"), None),
    "summed_loss_unscaled": (train(body=STEP.replace("l = loss(net(X), y)", "l = loss(net(X), y) * len(X)")), ("trajectory", "same_draws")),
    "full_batch": (train(batches="for X, y in [(features, labels)]:"), None),
    "no_bias": (train(net="nn.Sequential(nn.Linear(features.shape[1], 1, bias=False))",
                      init="net[0].weight.data.normal_(0, 0.01)"), None),
    "zero_grad_per_epoch": (train(batches="trainer.zero_grad()\n        for X, y in data_iter:",
                                  body="l = loss(net(X), y)\n            l.backward()\n            trainer.step()"), None),
    "forward_detached": (train(body=STEP.replace("loss(net(X), y)", "loss(net(X).detach().requires_grad_(), y)")), None),
    "returns_fresh_net": (train(returns="nn.Sequential(nn.Linear(features.shape[1], 1))"), ("final_parameters",)),
    "optimises_weight_only": (train(trainer="torch.optim.SGD([net[0].weight], lr=lr)"), None),
    "relu_output": (train(net="nn.Sequential(nn.Linear(features.shape[1], 1), nn.ReLU())"), ("trajectory", "same_draws")),
    "two_outputs": (train(net="nn.Sequential(nn.Linear(features.shape[1], 2))"), None),
    "default_initialisation": (train(init=""), ("same_draws",)),
    "seeds_inside": (train(before="torch.manual_seed(0)"), ("same_draws",)),
    "extra_random_draw": (train(init="net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(0)\n    torch.rand(1)"), ("same_draws",)),
    "own_loader_in_order": (train(data_iter="load_array((features, labels), batch_size, is_train=False)"), ("same_draws",)),
    "one_epoch_only": (train(epochs="range(1)"), None),
    "own_loss": (train(body=STEP.replace("loss(net(X), y)", "nn.MSELoss()(net(X), y)")), ("trajectory", "same_draws")),
    "weight_std_one": (train(init="net[0].weight.data.normal_(0, 1)\n    net[0].bias.data.fill_(0)"), ("same_draws",)),
    "bias_starts_at_one": (train(init="net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(1)"), ("trajectory", "same_draws")),
    "momentum": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)"), ("trajectory", "same_draws")),
    "adam": (train(trainer="torch.optim.Adam(net.parameters(), lr=lr)"), None),
    "step_twice": (train(body=STEP + "\n            trainer.step()"), ("trajectory", "same_draws")),
    "delayed_gradient": (train(body="l = loss(net(X), y)\n            trainer.step()\n            trainer.zero_grad()\n            l.backward()"), ("same_draws",)),
    "trains_under_no_grad": ("""
def train_concise(features, labels, num_epochs, lr, batch_size, loss):
    net = nn.Sequential(nn.Linear(features.shape[1], 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    data_iter = load_array((features, labels), batch_size, is_train=True)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    with torch.no_grad():  # "no gradients needed for the data"
        for epoch in range(num_epochs):
            for X, y in data_iter:
                l = loss(net(X), y)
                trainer.zero_grad()
                l.backward()
                trainer.step()
    return net
""", None),
    "optimizer_of_another_net": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr)\n    "
                                               "net = nn.Sequential(nn.Linear(features.shape[1], 1))"), None),
    "weight_decay": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr, weight_decay=0.1)"), None),
    "gradient_clipping": (train(body=STEP.replace("trainer.step()", "nn.utils.clip_grad_norm_(net.parameters(), 0.1)\n            trainer.step()")), None),
    "breaks_after_first_batch": (train(body=STEP + "\n            break"), None),
    "lr_over_num_examples": (train(trainer="torch.optim.SGD(net.parameters(), lr=lr / len(features))"), None),
    "backward_of_a_number": (train(body=STEP.replace("l = loss(net(X), y)", "l = torch.tensor(loss(net(X), y).item(), requires_grad=True)")), None),
    "weight_initialised_twice": (train(init="net[0].weight.data.normal_(0, 0.01)\n    net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(0)"), ("same_draws",)),
}
CHECKS = ("trajectory", "final_parameters", "same_draws")


def test_training_checks_calibrated():
    """At least 20 correct variants pass each training check, at least as many realistic bugs
    are caught by each, and the module's table says so."""
    figures = calibrate(CHAPTER, "train_concise", {k: {"train_concise": v} for k, v in VARIANTS.items()},
                        {k: ({"train_concise": v}, which) for k, (v, which) in BUGS.items()}, CHECKS)
    assert_calibrated(figures, checks.CALIBRATION, "train_concise")


# -- self-checks ------------------------------------------------------------------------------
WRONG = {
    "load_array": [loader("data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=True)"),
                   OWN_GENERATOR, loader("data.DataLoader(data.TensorDataset(*data_arrays), batch_size)")],
    "huber_loss": [huber("torch.where(r <= delta, 0.5 * r ** 2, r - 0.5 * delta)"), huber(r="(y_hat - y).abs()"),
                   huber("nn.functional.huber_loss(y_hat, y.reshape(y_hat.shape), reduction='none', delta=delta)")],
    "train_concise": [BUGS["never_zeroes"][0], BUGS["seeds_inside"][0], BUGS["default_initialisation"][0],
                      train(net="nn.Sequential(nn.Linear(2, 1))"), BUGS["own_loss"][0]],
    "get_w_b_grads": ["def get_w_b_grads(net):\n    return net[0].weight, net[0].bias",
                      "def get_w_b_grads(net):\n    return net[0].weight.grad.reshape(-1), net[0].bias.grad",
                      "def get_w_b_grads(net):\n    return net[0].weight.grad, net[0].bias.grad"],
}


def test_selfchecks_judge_one_exercise(tmp_path):
    wrong = {k: [textwrap.dedent(s).strip("\n") for s in v] for k, v in WRONG.items()}
    assert_selfchecks_judge_one_exercise(CHAPTER, wrong, tmp_path)


# -- the prose against its outputs ----------------------------------------------------------
def test_prose_quotes_its_outputs():
    text = prose.markdown(CHAPTER)
    assert "Gaussian noise model of chapter 03" in text and "noise model of chapter 05" not in text
    trained = book_text.stored_text(CHAPTER, "code-8a87c1e5")
    final = prose.number_after(trained, "after training:")
    assert "The loss ends at about $10^{-4}$" in text and 0.5e-4 <= final <= 2e-4, final
    errors = [abs(float(v)) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", trained.split("error in estimating w:")[1])]
    assert "within a thousandth of the true ones" in text and errors and max(errors) < 1e-3, errors
    gaps = [float(v) for v in re.findall(r"\): ([\d.e-]+)", book_text.stored_text(CHAPTER, "code-613e5d62"))]
    assert "up to floating-point rounding" in text and gaps and max(gaps) < 1e-4, gaps
    grads = book_text.stored_text(CHAPTER, "code-be98da8e")
    bias = float(re.search(r"bias gradient,\s+autograd: tensor\(\[([-\d.]+)\]\)", grads).group(1))
    assert "of the order of $-2 \\times 4.2$" in text and -12 < bias < -6, bias
    shown = book_text.stored_text(CHAPTER, "code-e6bb6d29")
    eigenvalues = [float(v) for v in re.findall(r"[\d.]+", shown.split("mean loss:")[1].split("\n")[0])]
    bound = prose.number_after(shown, "2 / lambda_max:")
    assert abs(bound - 2 / max(eigenvalues)) < 0.01 and "$2/\\lambda_{\\max} \\approx 0.96$" in text
    assert bound == 0.96 and 10 * 0.03 < bound < 100 * 0.03, (bound, eigenvalues)
    below = book_text.stored_text(CHAPTER, "code-d995bcd4")
    lo, hi, mean = (prose.number_after(below, k) for k in ("lie", "to", "(mean"))
    assert "nine to eleven units below the true line (about ten on average" in text
    assert (round(lo), round(hi), round(mean)) == (9, 11, 10), (lo, hi, mean)


def test_the_misconception_box_shows_its_claim():
    text = prose.markdown(CHAPTER)
    assert "From the notes" in text and "**multiplied** by $n$" in text
    shown = book_text.stored_text(CHAPTER, "code-b4e58d92")
    runs = re.findall(r"= ([\d.]+): final loss ([\d.e+-]+) \(sum: ([\d.e+-]+)\), largest gap between the runs ([\d.e+-]+)", shown)
    (note_lr, note_loss, summed, _), (right_lr, right_loss, _, right_gap) = runs
    assert (float(note_lr), float(right_lr)) == (0.0003, 0.03)
    assert float(right_gap) < 1e-4 and float(note_loss) > 1e4 * float(summed), runs


def test_answers_quote_their_outputs():
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    shown = book_text.stored_text(CHAPTER, "code-1507e5da")
    slopes = {float(d): float(s) for d, s in re.findall(r"delta\s+([\d.]+): slope\s+([-\d.]+)", shown)}
    squared = prose.number_after(book_text.stored_text(CHAPTER, "code-49426d25"), "squared loss : slope")
    assert "its slope below 1" in text and slopes[0.1] < 1
    assert "like the least-squares line" in text and abs(slopes[10.0] - squared) < 0.1, (slopes, squared)
    assert "initialising after creating the loader changes nothing: True" in shown
    norms = {k: [float(v) for v in vs.split()] for k, vs in re.findall(r"(with|without) zero_grad, [^:]+: ([\d. ]+)", shown)}
    assert "falls as the fit improves" in text and max(norms["with"][-2:]) < norms["with"][0] / 2, norms
    assert "several times larger" in text and sum(norms["without"][1:]) > 2 * sum(norms["with"][1:]), norms


def test_display_equations_fit_a_phone():
    book_text.assert_equations_fit_a_phone(CHAPTER)
