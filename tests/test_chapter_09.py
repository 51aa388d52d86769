"""Chapter 09: the solutions score full marks, the stubs and code that does nothing zero; each
row of the requirement table has a submission that loses exactly that row's points; a broken
`accuracy`, `evaluate_accuracy` or `train_epoch` costs the exercises that use it nothing (the
issue's example: an `accuracy` returning a fraction loses its own 2 points only); the training checks
are calibrated; each self-check judges its own exercise; the text agrees with its outputs and
the image grids' titles stay clear of the row above.

Every graded submission trains softmax regression on all of Fashion-MNIST (seconds in the
harness), so the corpus holds one submission per requirement row and little else."""
import re
import textwrap

import pytest

from autograder.checks import ch09_softmax_regression_training as checks
from tests import prose
from tests.book_text import stored_text
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered, check_verdicts,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise, solution_sources

CHAPTER = "09_softmax_regression_training"
SOLVED = solution_sources(CHAPTER)
STANDS_IN = "graded with a working"
TRAINING_CELL = "code-6256b70b"  # the from-scratch model after 10 epochs
CONCISE_CELL = "code-d6504ea3"  # the concise model after 10 epochs
LONG_RUN_CELL = "code-f16eda78"  # 30 epochs on all the training images
PER_CLASS_CELL = "code-53b3ad00"  # the confusion matrix and the accuracy per class
FOOTWEAR_CELL = "code-d1e24730"  # the footwear's mistakes inside the group
ANSWERS_CELL = "code-36aa3fb4"  # the answers' measurements: batch accuracies, learning rates, batch sizes
EARLY_STOPPING_CELL = "code-8c4a8274"  # early stopping on 1,000 images with 5,000 for validation


# -- submissions, written by parts ----------------------------------------------------------------
def lines(*body: str, indent: int = 12) -> str:
    return "".join(" " * indent + line + "\n" for line in body)


OPTIMIZER = lines("updater.zero_grad()", "l.mean().backward()", "updater.step()")
CUSTOM = lines("l.sum().backward()", "updater(X.shape[0])")
METRICS = lines("metric.add(float(l.detach().sum()), accuracy(y_hat.detach(), y), y.numel())", indent=8)


def epoch(optimizer: str = OPTIMIZER, custom: str = CUSTOM, metrics: str = METRICS,
          returns: str = "metric[0] / metric[2], metric[1] / metric[2]", mode: str = "net.train()",
          loop: str = "for X, y in train_iter:", forward: str = "net(X)", loss_of: str = "loss(y_hat, y)",
          is_optimizer: str = "isinstance(updater, torch.optim.Optimizer)") -> str:
    """A train_epoch: the solution's, with any part replaced."""
    return (f"def train_epoch(net, train_iter, loss, updater):\n"
            f"    if isinstance(net, torch.nn.Module):\n        {mode}\n"
            f"    metric = Accumulator(3)\n    {loop}\n        y_hat = {forward}\n        l = {loss_of}\n"
            f"        if {is_optimizer}:\n{optimizer}        else:\n{custom}{metrics}    return {returns}\n")


def accuracy(body: str) -> str:
    return "def accuracy(y_hat, y):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def evaluate(body: str) -> str:
    return "def evaluate_accuracy(net, data_iter):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def predict(body: str) -> str:
    return "def predict(net, X):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


ACCURACY_FRACTION = accuracy("""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(1)
    return float((y_hat.type(y.dtype) == y).float().mean())
    """)
ACCURACY_ARGMIN = accuracy("""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmin(1)
    return float((y_hat.reshape(-1).type(y.dtype) == y).sum())
    """)
ACCURACY_SCORES_WITH_LABELS = accuracy("return float((y_hat.type(y.dtype) == y).sum())")
EVALUATE_COUNT = evaluate("""
    if isinstance(net, torch.nn.Module):
        net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0]
    """)
EVALUATE_MEAN_OF_BATCHES = evaluate("""
    if isinstance(net, torch.nn.Module):
        net.eval()
    accs = []
    with torch.no_grad():
        for X, y in data_iter:
            accs.append(accuracy(net(X), y) / len(y))
    return sum(accs) / len(accs)
    """)
EVALUATE_WITHOUT = {  # the solution without one of its lines
    "eval": evaluate(textwrap.dedent(SOLVED["evaluate_accuracy"].split("\n", 1)[1]).replace(
        "if isinstance(net, torch.nn.Module):\n    net.eval()\n", "")),
    "no_grad": evaluate("""
        if isinstance(net, torch.nn.Module):
            net.eval()
        metric = Accumulator(2)
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
        return metric[0] / metric[1]
        """),
}
EPOCH_MEAN_WITH_CUSTOM = epoch(custom=lines("l.mean().backward()", "updater(X.shape[0])"))
EPOCH_NEVER_ZEROES = epoch(optimizer=lines("l.mean().backward()", "updater.step()"))

REQUIREMENT_CASES = [
    # the issue's example: one bug in accuracy, charged once (16.5 of 18.5)
    requirement_case(CHAPTER, "accuracy.count", replace={"accuracy": ACCURACY_FRACTION},
                     messages={"accuracy": "the fraction", "evaluate_accuracy": STANDS_IN + " `accuracy`",
                               "train_epoch": STANDS_IN + " `accuracy`", "training": STANDS_IN}),
    requirement_case(CHAPTER, "accuracy.float", replace={"accuracy": accuracy("""
        if y_hat.dim() > 1 and y_hat.shape[1] > 1:
            y_hat = y_hat.argmax(1)
        return (y_hat.reshape(-1).type(y.dtype) == y).sum()
        """)}, messages={"accuracy": "expected a Python float"}),
    requirement_case(CHAPTER, "accuracy.argmax", replace={"accuracy": ACCURACY_ARGMIN},
                     messages={"accuracy": "largest entry of each row"}),
    requirement_case(CHAPTER, "accuracy.logits", replace={"accuracy": accuracy("""
        if y_hat.dim() > 1 and y_hat.shape[1] > 1 and (y_hat >= 0).all():
            y_hat = y_hat.argmax(1)
        return float((y_hat.reshape(-1).type(y.dtype) == y).sum())
        """)}, messages={"accuracy": "(logits)"}),
    requirement_case(CHAPTER, "accuracy.indices", replace={"accuracy": accuracy(
        "return float((y_hat.argmax(1).type(y.dtype) == y).sum())")}, messages={"accuracy": "IndexError"}),
    requirement_case(CHAPTER, "accuracy.column", replace={"accuracy": accuracy("""
        if y_hat.dim() > 1 and y_hat.shape[1] > 1:
            y_hat = y_hat.argmax(1)
        return float((y_hat.type(y.dtype) == y).sum())
        """)}, messages={"accuracy": "broadcasts to an (n, n) table"}),
    requirement_case(CHAPTER, "accuracy.any_dtype", replace={"accuracy": accuracy("""
        if y_hat.is_floating_point():
            y_hat = y_hat.argmax(1)
        return float((y_hat.type(y.dtype) == y).sum())
        """)}, messages={"accuracy": "[float32]"}),
    # one bug, one penalty: the training is graded with a working evaluate_accuracy
    requirement_case(CHAPTER, "evaluate_accuracy.value", replace={"evaluate_accuracy": EVALUATE_COUNT},
                     messages={"training": STANDS_IN + " `evaluate_accuracy`"}),
    requirement_case(CHAPTER, "evaluate_accuracy.weighting", replace={"evaluate_accuracy": EVALUATE_MEAN_OF_BATCHES},
                     messages={"evaluate_accuracy": "mean of the batches' accuracies",
                               "training": STANDS_IN + " `evaluate_accuracy`"}),
    requirement_case(CHAPTER, "evaluate_accuracy.eval_mode", replace={"evaluate_accuracy": EVALUATE_WITHOUT["eval"]},
                     messages={"evaluate_accuracy": "net.eval()"}),
    requirement_case(CHAPTER, "evaluate_accuracy.plain_function", replace={"evaluate_accuracy": evaluate(
        textwrap.dedent(SOLVED["evaluate_accuracy"].split("\n", 1)[1]).replace(
            "if isinstance(net, torch.nn.Module):\n    net.eval()\n", "net.eval()\n"))},
        messages={"evaluate_accuracy": "AttributeError"}),
    requirement_case(CHAPTER, "evaluate_accuracy.no_grad", replace={"evaluate_accuracy": EVALUATE_WITHOUT["no_grad"]},
                     messages={"evaluate_accuracy": "torch.no_grad()"}),
    requirement_case(CHAPTER, "train_epoch.zero_grad", replace={"train_epoch": EPOCH_NEVER_ZEROES},
                     messages={"train_epoch": "accumulate"}),
    requirement_case(CHAPTER, "train_epoch.optimizer_mean", replace={"train_epoch": epoch(
        optimizer=lines("updater.zero_grad()", "l.sum().backward()", "updater.step()"))},
        messages={"train_epoch": "l.mean()"}),
    requirement_case(CHAPTER, "train_epoch.step", replace={"train_epoch": epoch(
        optimizer=lines("updater.zero_grad()", "l.mean().backward()"))},
        messages={"train_epoch": "never called updater.step()"}),
    # one bug, one penalty: the training is graded with a working train_epoch
    requirement_case(CHAPTER, "train_epoch.custom_sum", replace={"train_epoch": EPOCH_MEAN_WITH_CUSTOM},
                     messages={"train_epoch": "l.sum()", "training": STANDS_IN + " `train_epoch`"}),
    requirement_case(CHAPTER, "train_epoch.batch_size", replace={"train_epoch": epoch(
        loop="size = None\n    for X, y in train_iter:\n        size = size or X.shape[0]",
        custom=lines("l.sum().backward()", "updater(size)"))},
        messages={"train_epoch": "the last batch is smaller"}),
    requirement_case(CHAPTER, "train_epoch.mean_loss", replace={"train_epoch": epoch(
        metrics=lines("metric.add(float(l.detach().mean()), accuracy(y_hat.detach(), y), y.numel())", indent=8))},
        messages={"train_epoch": "mean loss"}),
    requirement_case(CHAPTER, "train_epoch.accuracy", replace={"train_epoch": epoch(
        returns="metric[0] / metric[2], metric[1] / len(train_iter)")}, messages={"train_epoch": "an accuracy of"}),
    requirement_case(CHAPTER, "train_epoch.floats", replace={"train_epoch": epoch(
        returns="torch.tensor(metric[0] / metric[2]), torch.tensor(metric[1] / metric[2])")},
        messages={"train_epoch": "Python floats"}),
    requirement_case(CHAPTER, "train_epoch.train_mode", replace={"train_epoch": epoch(mode="pass")},
                     messages={"train_epoch": "net.train()"}),
    requirement_case(CHAPTER, "predict.indices", replace={"predict": predict("""
        with torch.no_grad():
            return net(X).argmax(1).float()
        """)}, messages={"predict": "dtype"}),
    requirement_case(CHAPTER, "predict.one_example", replace={"predict": predict("""
        with torch.no_grad():
            return net(X).argmax(1).squeeze()
        """)}, messages={"predict": "shape (1, 1, 4, 4)"}),
    requirement_case(CHAPTER, "predict.no_grad", replace={"predict": predict("return net(X).argmax(1)")},
                     messages={"predict": "torch.no_grad()"}),
]

# Issue 21: third-party code graded as the prompt says, and beginners' slips told what to fix, once.
EVALUATE_READS_CODE = """
    def evaluate_accuracy(net, data_iter):
        # a helper from another course: a plain function must take exactly one argument
        if isinstance(net, torch.nn.Module):
            net.eval()
        elif net.__code__.co_argcount != 1:
            raise TypeError("net must take one argument")
        correct = total = 0
        with torch.no_grad():
            for X, y in data_iter:
                correct += accuracy(net(X), y)
                total += y.numel()
        return correct / total
    """
ISSUE_21_CASES = [
    Case("evaluate_reads_code_accuracy_always_argmaxes", replace={
        "evaluate_accuracy": EVALUATE_READS_CODE,
        "accuracy": "def accuracy(y_hat, y):\n    return float((y_hat.argmax(1) == y).sum())\n"},
         scores={"accuracy": 1.5},
         messages={"accuracy": "take argmax(1) only when y_hat has two dimensions"}),
    Case("beginner_slips", replace={
        "accuracy": """
            def accuracy(y_hat, y):
                if y_hat.dim() > 1 and y_hat.shape[1] > 1:
                    y_hat = y_hat.argmax(1)
                return float((y_hat.type(y.dtype) == y).float().mean())
            """,
        "predict": """
            def predict(net, X):
                with torch.no_grad():
                    return net(X).argmax(1, keepdim=True).squeeze()
            """,
        "train_epoch": """
            def train_epoch(net, train_iter, loss, updater):
                if isinstance(net, torch.nn.Module):
                    net.train()
                metric = Accumulator(3)
                for X, y in train_iter:
                    y_hat = net(X)
                    l = loss(y_hat, y)
                    if isinstance(updater, torch.optim.Optimizer):
                        updater.zero_grad()
                        l.mean().backward()
                        updater.step()
                    else:
                        l.sum().backward()
                        updater(X.shape[0])
                    metric.add(float(l.sum()), accuracy(y_hat.detach(), y), y.numel())
                return metric[0] / metric[2], metric[1] / metric[2]
            """},
         scores={"accuracy": 0, "predict": 1},
         messages={"accuracy": "the fraction; return the number of correct predictions, 6 (evaluate_accuracy "
                               "divides by the total) (and 2 checks that depend on it)",
                   "predict": "squeeze() with no dim drops every dimension of size 1",
                   "training": "graded with a working `accuracy`"}),
    Case("evaluate_calls_eval_on_a_function", replace={"evaluate_accuracy": """
        def evaluate_accuracy(net, data_iter):
            net.eval()
            metric = Accumulator(2)
            with torch.no_grad():
                for X, y in data_iter:
                    metric.add(accuracy(net(X), y), y.numel())
            return metric[0] / metric[1]
        """}, scores={"evaluate_accuracy": 2.5},
         messages={"evaluate_accuracy": "call net.eval() only when isinstance(net, torch.nn.Module)",
                   "training": "graded with a working `evaluate_accuracy`"}),
]


# -- early_stopping ------------------------------------------------------------------------------
def stopping(body: str) -> str:
    return ("def early_stopping(net, train_one_epoch, val_accuracy, num_epochs):\n    import copy\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")


def keeps_best(copy_state: str = "{k: v.detach().clone() for k, v in net.state_dict().items()}",
               better: str = "val_accs[-1] > best_acc", start: str = "-math.inf",
               before: str = "", epochs: str = "range(num_epochs)", measure: str = "val_accuracy(net)",
               returns: str = "best_state, val_accs") -> str:
    """An early_stopping that tracks the best epoch as it goes, with any part replaced."""
    return stopping(f"""
        best_state, best_acc, val_accs = None, {start}, []
        for epoch in {epochs}:
            {before}train_one_epoch()
            val_accs.append({measure})
            if {better}:
                best_acc = val_accs[-1]
                best_state = {copy_state}
        return {returns}
        """)


def keeps_all(copy_state: str = "copy.deepcopy(net.state_dict())",
              pick: str = "val_accs.index(max(val_accs))") -> str:
    """An early_stopping that keeps every epoch's state and picks one at the end."""
    return stopping(f"""
        states, val_accs = [], []
        for epoch in range(num_epochs):
            train_one_epoch()
            val_accs.append(val_accuracy(net))
            states.append({copy_state})
        return states[{pick}], val_accs
        """)


COPIES = ["{k: v.detach().clone() for k, v in net.state_dict().items()}", "copy.deepcopy(net.state_dict())",
          "{k: v.clone() for k, v in net.state_dict().items()}", "copy.deepcopy(net).state_dict()",
          "{k: torch.clone(v) for k, v in net.state_dict().items()}"]
ES_VARIANTS = {}
for i, state in enumerate(COPIES):
    ES_VARIANTS[f"copy {i}, best so far"] = keeps_best(copy_state=state)
    ES_VARIANTS[f"copy {i}, best so far from None"] = keeps_best(
        copy_state=state, start="None", better="best_acc is None or val_accs[-1] > best_acc")
    ES_VARIANTS[f"copy {i}, all kept, index of max"] = keeps_all(copy_state=state)
    ES_VARIANTS[f"copy {i}, all kept, first argmax"] = keeps_all(
        copy_state=state, pick="max(range(len(val_accs)), key=val_accs.__getitem__)")

ES_BOTH = ("validation_accuracies", "best_parameters")
ES_ALIASES = ["net.state_dict()", "dict(net.state_dict())", "copy.copy(net.state_dict())",
              "{k: v for k, v in net.state_dict().items()}", "{k: v.detach() for k, v in net.state_dict().items()}",
              "net.state_dict(keep_vars=True)", "{k: v.data for k, v in net.state_dict().items()}",
              "{n: p for n, p in net.named_parameters()}"]
ES_BUGS = {f"alias {i}": (keeps_best(copy_state=state), ("best_parameters",)) for i, state in enumerate(ES_ALIASES)}
ES_BUGS |= {f"alias {i}, all kept": (keeps_all(copy_state=state), ("best_parameters",))
            for i, state in enumerate(ES_ALIASES[:4])}
ES_BUGS |= {
    "last of a tie": (keeps_best(better="val_accs[-1] >= best_acc"), ("best_parameters",)),
    "last of a tie, all kept": (keeps_all(pick="len(val_accs) - 1 - val_accs[::-1].index(max(val_accs))"),
                                ("best_parameters",)),
    "worst epoch": (keeps_best(better="val_accs[-1] < best_acc", start="math.inf"), ("best_parameters",)),
    "best_acc never updated": (stopping("""
        best_state, best_acc, val_accs = None, -math.inf, []
        for epoch in range(num_epochs):
            train_one_epoch()
            val_accs.append(val_accuracy(net))
            if val_accs[-1] > best_acc:
                best_state = copy.deepcopy(net.state_dict())
        return best_state, val_accs
        """), ("best_parameters",)),
    "copied before training": (keeps_best(before="candidate = copy.deepcopy(net.state_dict())\n            ",
                                          copy_state="candidate"), ("best_parameters",)),
    "index off by one": (keeps_all(pick="val_accs.index(max(val_accs)) - 1"), ("best_parameters",)),
    "always the last": (keeps_all(pick="-1"), ("best_parameters",)),
    "always the first": (keeps_all(pick="0"), ("best_parameters",)),
    "in percent": (keeps_best(measure="100 * val_accuracy(net)"), ("validation_accuracies",)),
    "error rate": (keeps_best(measure="1 - val_accuracy(net)", better="val_accs[-1] < best_acc",
                              start="math.inf"), ("validation_accuracies",)),
    "rounded": (keeps_best(measure="round(val_accuracy(net), 2)"), ("validation_accuracies",)),
    "measured before training": (stopping("""
        best_state, best_acc, val_accs = None, -math.inf, []
        for epoch in range(num_epochs):
            val_accs.append(val_accuracy(net))
            if val_accs[-1] > best_acc:
                best_acc = val_accs[-1]
                best_state = copy.deepcopy(net.state_dict())
            train_one_epoch()
        return best_state, val_accs
        """), ("validation_accuracies",)),
    "an epoch short": (keeps_best(epochs="range(num_epochs - 1)"), ("validation_accuracies",)),
    "an epoch too many": (keeps_best(epochs="range(num_epochs + 1)"), ("validation_accuracies",)),
    "two epochs per epoch": (keeps_best(before="train_one_epoch()\n            "), ES_BOTH),
    "stops at the first worse epoch": (stopping("""
        best_state, val_accs = None, []
        for epoch in range(num_epochs):
            train_one_epoch()
            val_accs.append(val_accuracy(net))
            if len(val_accs) > 1 and val_accs[-1] <= max(val_accs[:-1]):
                break
            best_state = copy.deepcopy(net.state_dict())
        return best_state, val_accs
        """), ("validation_accuracies",)),
    "running best": (stopping("""
        best_state, val_accs = None, []
        for epoch in range(num_epochs):
            train_one_epoch()
            acc = val_accuracy(net)
            if not val_accs or acc > max(val_accs):
                best_state = copy.deepcopy(net.state_dict())
            val_accs.append(max([acc] + val_accs))
        return best_state, val_accs
        """), ("validation_accuracies",)),
    "only improvements reported": (stopping("""
        best_state, val_accs = None, []
        for epoch in range(num_epochs):
            train_one_epoch()
            acc = val_accuracy(net)
            if not val_accs or acc > val_accs[-1]:
                val_accs.append(acc)
                best_state = copy.deepcopy(net.state_dict())
        return best_state, val_accs
        """), ("validation_accuracies",)),
    "pair swapped": (keeps_best(returns="val_accs, best_state"), ES_BOTH),
    "the best accuracy only": (keeps_best(returns="best_state, [best_acc]"), ("validation_accuracies",)),
    "first epoch untrained": (keeps_best(before="if epoch > 0:\n                "), ("validation_accuracies",)),
    "the net, not its state": (keeps_best(copy_state="copy.deepcopy(net)"), ("best_parameters",)),
    "reversed": (keeps_best(returns="best_state, val_accs[::-1]"), ("validation_accuracies",)),
    "the first accuracy dropped": (keeps_best(returns="best_state, val_accs[1:]"), ("validation_accuracies",)),
    "epochs from 1": (keeps_best(epochs="range(1, num_epochs)"), ("validation_accuracies",)),
    "last epoch untrained": (keeps_best(before="if epoch < num_epochs - 1:\n                "),
                             ("validation_accuracies",)),
    "appended twice": (keeps_best(before="val_accs.append(val_accuracy(net))\n            "),
                       ("validation_accuracies",)),
    "running mean": (stopping("""
        best_state, best_acc, accs, val_accs = None, -math.inf, [], []
        for epoch in range(num_epochs):
            train_one_epoch()
            accs.append(val_accuracy(net))
            if accs[-1] > best_acc:
                best_acc, best_state = accs[-1], copy.deepcopy(net.state_dict())
            val_accs.append(sum(accs) / len(accs))
        return best_state, val_accs
        """), ("validation_accuracies",)),
    "a copy made before training measured": (stopping("""
        frozen, best_state, best_acc, val_accs = copy.deepcopy(net), None, -math.inf, []
        for epoch in range(num_epochs):
            train_one_epoch()
            val_accs.append(val_accuracy(frozen))
            if val_accs[-1] > best_acc:
                best_acc, best_state = val_accs[-1], copy.deepcopy(net.state_dict())
        return best_state, val_accs
        """), ES_BOTH),
}
ES_REQUIREMENT_CASES = [
    requirement_case(CHAPTER, "early_stopping.each_epoch", replace={"early_stopping": ES_BUGS["two epochs per epoch"][0]},
                     messages={"early_stopping": "called train_one_epoch() 10 times; expected 5"}),
    requirement_case(CHAPTER, "early_stopping.accuracies", replace={"early_stopping": ES_BUGS["in percent"][0]},
                     messages={"early_stopping": "for epoch 1 you report"}),
    requirement_case(CHAPTER, "early_stopping.copy", replace={"early_stopping": ES_BUGS["alias 0"][0]},
                     messages={"early_stopping": "the last epoch's parameters"}),
    requirement_case(CHAPTER, "early_stopping.first_best", replace={"early_stopping": ES_BUGS["last of a tie"][0]},
                     messages={"early_stopping": "keep the first"}),
]


CASES = [SOLUTION, STUB, *doing_nothing_cases(CHAPTER), *REQUIREMENT_CASES, *ISSUE_21_CASES,
         *ES_REQUIREMENT_CASES]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch09"))


def test_library_warnings_are_told_apart_and_explained(results):
    """Issue 21: float(l.sum()) sets off PyTorch's warning; the output marks it as a warning
    (not a print of the student's) and says in one line what it means."""
    out = results["beginner_slips"].student_output
    assert "[a warning, not a print" in out and "Converting a tensor with requires_grad=True" in out, out
    assert "l.sum().item()" in out, out


def test_the_notebook_explains_the_warning_too(tmp_path):
    """Issue 21: in a student's kernel (the course's self-checks imported) the same warning
    is followed by one line saying what it means."""
    from tests.kernel import run
    ran = run([("setup", "from course.selfcheck import SelfCheck\nimport torch"),
               ("slip", "x = torch.ones(3, requires_grad=True)\nfloat((2 * x).sum())")], tmp_path)
    assert "what this warning means: float() or int() of a tensor" in ran[1].text, ran[1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


def test_an_accuracy_returning_a_fraction_costs_its_own_points_only(results):
    """The issue's example: 9 of 14.5 points were lost for this one bug; now 2 (of the chapter's
    18.5 since early_stopping joined it, which uses no accuracy of the student's)."""
    result = results["req_accuracy.count"]
    assert (result.score, result.max_score) == (16.5, 18.5)


# -- calibration of the training checks ---------------------------------------------------------
def pieces(**replace: str) -> dict:
    """train_epoch, accuracy and evaluate_accuracy as the solutions write them, with some replaced.
    All three are defined again in the variant's namespace, so that each calls the others as
    replaced (check_verdicts runs on a copy of the reference namespace, whose own functions
    would still call the reference's)."""
    return {name: replace.get(name, SOLVED[name]) for name in ("accuracy", "evaluate_accuracy", "train_epoch")}


EPOCH_CHECKS = ("optimizer", "custom_updater")  # train_epoch's own training checks
TRAINING_CHECKS = ("trajectory", "test_accuracy")  # the training exercise's
ALL = EPOCH_CHECKS + TRAINING_CHECKS
# Variants that change only the optimizer branch are variants for train_epoch's checks alone (the
# training runs with a custom updater); each full training run takes seconds, so test_accuracy
# gets 20 variants and as many bugs, the others more.
# Another correct order of the batches, drawn from torch's generator: SGD over any order is correct,
# and the training checks must accept it. train_epoch's own checks expect train_iter's order.
REORDERED = "for i in torch.randperm(len(batches)).tolist():\n        X, y = batches[i]"

VARIANTS = {  # variant → (its pieces, the checks it is a variant for)
    "reference": (pieces(), ALL),
    "zero_grad_after_step": (pieces(train_epoch=epoch(optimizer=lines(
        "l.mean().backward()", "updater.step()", "updater.zero_grad()"))), EPOCH_CHECKS),
    "net_zero_grad": (pieces(train_epoch=epoch(optimizer=lines(
        "net.zero_grad()", "l.mean().backward()", "updater.step()"))), EPOCH_CHECKS),
    "zero_grad_keeps_zeros": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad(set_to_none=False)", "l.mean().backward()", "updater.step()"))), EPOCH_CHECKS),
    "grads_set_to_none": (pieces(train_epoch=epoch(optimizer=lines(
        "for p in net.parameters():", "    p.grad = None", "l.mean().backward()", "updater.step()"))), EPOCH_CHECKS),
    "mean_as_sum_over_n": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "(l.sum() / len(y)).backward()", "updater.step()"))), EPOCH_CHECKS),
    "sum_as_mean_times_n": (pieces(train_epoch=epoch(custom=lines(
        "(l.mean() * X.shape[0]).backward()", "updater(X.shape[0])"))), ALL),
    "retain_graph": (pieces(train_epoch=epoch(custom=lines(
        "l.sum().backward(retain_graph=True)", "updater(X.shape[0])"))), ALL),
    "updater_len_y": (pieces(train_epoch=epoch(custom=lines("l.sum().backward()", "updater(len(y))"))), ALL),
    "updater_numel": (pieces(train_epoch=epoch(custom=lines("l.sum().backward()", "updater(y.numel())"))), ALL),
    "duck_typed_optimizer": (pieces(train_epoch=epoch(is_optimizer="hasattr(updater, 'step')")), ALL),
    "sgd_subclass_test": (pieces(train_epoch=epoch(is_optimizer="isinstance(updater, torch.optim.SGD)")), ALL),
    "enumerated_batches": (pieces(train_epoch=epoch(loop="for i, (X, y) in enumerate(train_iter):")), ALL),
    "forward_inline": (pieces(train_epoch=epoch(forward="net(X.reshape(X.shape))")), ALL),
    "float64_sums": (pieces(train_epoch=epoch(metrics=lines(
        "metric.add(l.detach().double().sum().item(), accuracy(y_hat.detach(), y), len(y))", indent=8))), ALL),
    "numpy_sum": (pieces(train_epoch=epoch(metrics=lines(
        "metric.add(float(l.detach().numpy().sum()), accuracy(y_hat.detach(), y), X.shape[0])", indent=8))), ALL),
    "metrics_under_no_grad": (pieces(train_epoch=epoch(metrics=lines(
        "with torch.no_grad():", "    metric.add(l.sum(), accuracy(y_hat, y), len(y))", indent=8))), ALL),
    "inline_accuracy": (pieces(train_epoch=epoch(metrics=lines(
        "metric.add(float(l.detach().sum()), float((y_hat.argmax(dim=1) == y).sum()), y.numel())", indent=8))), EPOCH_CHECKS + ("trajectory",)),
    "float64_counters": (pieces(train_epoch=epoch(
        loop="sums = torch.zeros(3, dtype=torch.float64)\n    for X, y in train_iter:",
        metrics=lines("sums += torch.tensor([float(l.detach().sum()), accuracy(y_hat.detach(), y), len(y)],",
                      "                    dtype=torch.float64)", indent=8),
        returns="float(sums[0] / sums[2]), float(sums[1] / sums[2])")), EPOCH_CHECKS + ("trajectory",)),
    "plain_counters": (pieces(train_epoch=epoch(
        loop="total, correct, n = 0.0, 0.0, 0\n    for X, y in train_iter:",
        metrics=lines("total += l.sum().item()", "correct += accuracy(y_hat, y)", "n += len(y)", indent=8),
        returns="total / n, correct / n")), ALL),
    "reordered_batches": (pieces(train_epoch=epoch(
        loop="batches = list(train_iter)\n    " + REORDERED)), TRAINING_CHECKS),
    "reversed_batches": (pieces(train_epoch=epoch(loop="for X, y in reversed(list(train_iter)):")), TRAINING_CHECKS),
    "accuracy_max_indices": (pieces(accuracy=accuracy("""
        if y_hat.dim() > 1 and y_hat.shape[1] > 1:
            y_hat = y_hat.max(dim=1).indices
        return float((y_hat.to(y.dtype) == y).sum())
        """)), TRAINING_CHECKS),
    "accuracy_eq_float_sum": (pieces(accuracy=accuracy("""
        preds = y_hat.argmax(axis=1) if y_hat.ndim == 2 else y_hat
        return torch.eq(preds.type(y.dtype), y).float().sum().item()
        """)), TRAINING_CHECKS),
    "evaluate_plain_counts": (pieces(evaluate_accuracy=evaluate("""
        if isinstance(net, torch.nn.Module):
            net.eval()
        correct, total = 0.0, 0
        with torch.no_grad():
            for X, y in data_iter:
                correct += accuracy(net(X), y)
                total += y.numel()
        return correct / total
        """)), TRAINING_CHECKS),
    "evaluate_inference_mode": (pieces(evaluate_accuracy=evaluate("""
        if hasattr(net, 'eval'):
            net.eval()
        metric = Accumulator(2)
        with torch.inference_mode():
            for X, y in data_iter:
                metric.add(accuracy(net(X), y), len(y))
        return metric[0] / metric[1]
        """)), TRAINING_CHECKS),
    "evaluate_concatenated": (pieces(evaluate_accuracy=evaluate("""
        if isinstance(net, torch.nn.Module):
            net.eval()
        with torch.no_grad():
            preds, labels = zip(*[(net(X).argmax(1), y) for X, y in data_iter])
        return accuracy(torch.cat(preds), torch.cat(labels)) / len(torch.cat(labels))
        """)), TRAINING_CHECKS),
}

BUGS = {  # bug → (its pieces, the checks that must catch it)
    # with an optimizer (train_epoch's optimizer check)
    "never_zeroes": (pieces(train_epoch=EPOCH_NEVER_ZEROES), ("optimizer",)),
    "zeroes_once": (pieces(train_epoch=epoch(
        loop="updater.zero_grad() if hasattr(updater, 'zero_grad') else None\n    for X, y in train_iter:",
        optimizer=lines("l.mean().backward()", "updater.step()"))), ("optimizer",)),
    "optimizer_sum": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "l.sum().backward()", "updater.step()"))), ("optimizer",)),
    "optimizer_no_step": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "l.mean().backward()"))), ("optimizer",)),
    "zero_grad_before_step": (pieces(train_epoch=epoch(optimizer=lines(
        "l.mean().backward()", "updater.zero_grad()", "updater.step()"))), ("optimizer",)),
    "step_before_backward": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "updater.step()", "l.mean().backward()"))), ("optimizer",)),
    "steps_twice": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "l.mean().backward()", "updater.step()", "updater.step()"))), ("optimizer",)),
    "mean_over_batch_size_again": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "(l.mean() / len(y)).backward()", "updater.step()"))), ("optimizer",)),
    "sum_over_256": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "(l.sum() / 256).backward()", "updater.step()"))), ("optimizer",)),
    "sum_over_number_of_batches": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "(l.sum() / len(train_iter)).backward()", "updater.step()"))), ("optimizer",)),
    "optimizer_backward_twice": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "l.mean().backward(retain_graph=True)", "l.mean().backward()",
        "updater.step()"))), ("optimizer",)),
    "optimizer_vector_backward": (pieces(train_epoch=epoch(optimizer=lines(
        "updater.zero_grad()", "l.backward()", "updater.step()"))), ("optimizer",)),
    "optimizer_called_like_a_function": (pieces(train_epoch=epoch(is_optimizer="False")), ("optimizer",)),
    "one_step_per_epoch": (pieces(train_epoch=epoch(
        optimizer=lines("(l.mean() / len(train_iter)).backward()"),
        returns="(updater.step() if hasattr(updater, 'step') else None, metric[0] / metric[2], "
                "metric[1] / metric[2])[1:]")), ("optimizer",)),
    # either way (train_epoch's checks and the training's)
    "double_softmax": (pieces(train_epoch=epoch(loss_of="loss(torch.softmax(y_hat, 1), y)")), ALL),
    "first_batch_only": (pieces(train_epoch=epoch(metrics=METRICS + lines("break", indent=8))), ALL),
    "no_grad_forward": (pieces(train_epoch=epoch(forward="net(X.detach()).detach()")), ALL),
    "loss_arguments_swapped": (pieces(train_epoch=epoch(loss_of="loss(y, y_hat)")), ALL),
    "detached_loss": (pieces(train_epoch=epoch(loss_of="loss(y_hat.detach(), y)")), ALL),
    "skips_the_last_batch": (pieces(train_epoch=epoch(
        loop="n0 = None\n    for X, y in train_iter:\n        n0 = n0 or len(y)\n        if len(y) < n0:\n"
             "            continue")), EPOCH_CHECKS),
    # with a custom updater (train_epoch's custom_updater check and the training's)
    "mean_with_custom_updater": (pieces(train_epoch=EPOCH_MEAN_WITH_CUSTOM), ("custom_updater",) + TRAINING_CHECKS),
    "updater_gets_1": (pieces(train_epoch=epoch(custom=lines("l.sum().backward()", "updater(1)"))),
                       ("custom_updater",) + TRAINING_CHECKS),
    # a step 9 % too large (256 / 235): the trajectory sees it, the final accuracy is as good
    "updater_gets_number_of_batches": (pieces(train_epoch=epoch(custom=lines(
        "l.sum().backward()", "updater(len(train_iter))"))), ("custom_updater", "trajectory")),
    "updater_gets_pixels": (pieces(train_epoch=epoch(custom=lines("l.sum().backward()", "updater(X.numel())"))),
                            ("custom_updater",) + TRAINING_CHECKS),
    "updater_gets_half_the_batch": (pieces(train_epoch=epoch(custom=lines(
        "l.sum().backward()", "updater(X.shape[0] // 2)"))), ("custom_updater", "trajectory")),
    "updater_gets_the_first_size": (pieces(train_epoch=epoch(
        loop="size = None\n    for X, y in train_iter:\n        size = size or X.shape[0]",
        custom=lines("l.sum().backward()", "updater(size)"))), ("custom_updater",)),
    "updater_gets_channels": (pieces(train_epoch=epoch(custom=lines("l.sum().backward()", "updater(X.shape[1])"))),
                              ("custom_updater",) + TRAINING_CHECKS),
    "updater_called_twice": (pieces(train_epoch=epoch(custom=lines(
        "l.sum().backward()", "updater(X.shape[0])", "updater(X.shape[0])"))), ("custom_updater",)),
    "updater_before_backward": (pieces(train_epoch=epoch(custom=lines(
        "updater(X.shape[0])", "l.sum().backward()"))), ("custom_updater",) + TRAINING_CHECKS),
    "no_backward": (pieces(train_epoch=epoch(custom=lines("updater(X.shape[0])"))),
                    ("custom_updater",) + TRAINING_CHECKS),
    "custom_backward_twice": (pieces(train_epoch=epoch(custom=lines(
        "l.sum().backward(retain_graph=True)", "l.sum().backward()", "updater(X.shape[0])"))),
        ("custom_updater", "trajectory")),
    "custom_vector_backward": (pieces(train_epoch=epoch(custom=lines("l.backward()", "updater(X.shape[0])"))),
                               ("custom_updater",) + TRAINING_CHECKS),
    "sum_over_n_squared": (pieces(train_epoch=epoch(custom=lines(
        "(l.sum() / X.shape[0]).backward()", "updater(X.shape[0])"))), ("custom_updater",) + TRAINING_CHECKS),
    "optimizer_branch_always": (pieces(train_epoch=epoch(is_optimizer="True")),
                                ("custom_updater",) + TRAINING_CHECKS),
    # what train_epoch returns (the trajectory)
    "loss_per_batch": (pieces(train_epoch=epoch(metrics=lines(
        "metric.add(float(l.detach().sum()), accuracy(y_hat.detach(), y), 1)", indent=8))), ("trajectory",)),
    "mean_of_batch_means": (pieces(train_epoch=epoch(metrics=lines(
        "metric.add(float(l.detach().mean()), accuracy(y_hat.detach(), y), y.numel())", indent=8))), ("trajectory",)),
    "returns_sums": (pieces(train_epoch=epoch(returns="metric[0], metric[1]")), ("trajectory",)),
    "returns_swapped": (pieces(train_epoch=epoch(returns="metric[1] / metric[2], metric[0] / metric[2]")),
                        ("trajectory",)),
    "returns_the_correct_count": (pieces(train_epoch=epoch(returns="metric[0] / metric[2], metric[1]")),
                                  ("trajectory",)),
    "returns_the_last_batch": (pieces(train_epoch=epoch(returns="float(l.mean()), accuracy(y_hat, y) / len(y)")),
                               ("trajectory",)),
    # accuracy and evaluate_accuracy (the training's checks)
    "accuracy_fraction": (pieces(accuracy=ACCURACY_FRACTION), TRAINING_CHECKS),
    "accuracy_argmin": (pieces(accuracy=ACCURACY_ARGMIN), TRAINING_CHECKS),
    "accuracy_scores_with_labels": (pieces(accuracy=ACCURACY_SCORES_WITH_LABELS), TRAINING_CHECKS),
    "accuracy_argmax_over_the_batch": (pieces(accuracy=accuracy("""
        if y_hat.dim() > 1:
            y_hat = y_hat.argmax(0)
        return float((y_hat.type(y.dtype) == y).sum())
        """)), TRAINING_CHECKS),
    "evaluate_count": (pieces(evaluate_accuracy=EVALUATE_COUNT), TRAINING_CHECKS),
    "evaluate_divides_by_batches": (pieces(evaluate_accuracy=evaluate("""
        metric = Accumulator(2)
        with torch.no_grad():
            for X, y in data_iter:
                metric.add(accuracy(net(X), y), 1)
        return metric[0] / metric[1]
        """)), TRAINING_CHECKS),
    "evaluate_mean_of_batches": (pieces(evaluate_accuracy=EVALUATE_MEAN_OF_BATCHES), ("test_accuracy",)),
    "evaluate_first_batch_only": (pieces(evaluate_accuracy=evaluate("""
        with torch.no_grad():
            for X, y in data_iter:
                return accuracy(net(X), y) / len(y)
        """)), ("test_accuracy",)),
    "evaluate_integer_division": (pieces(evaluate_accuracy=evaluate(textwrap.dedent(
        SOLVED["evaluate_accuracy"].split("\n", 1)[1]).replace(
        "return metric[0] / metric[1]", "return int(metric[0]) // int(metric[1])"))), ("trajectory",)),
    "evaluate_assumes_full_batches": (pieces(evaluate_accuracy=evaluate("""
        correct, batches = 0.0, 0
        with torch.no_grad():
            for X, y in data_iter:
                correct += accuracy(net(X), y)
                batches += 1
        return correct / (batches * 256)
        """)), ("test_accuracy",)),
}


def verdicts_for(exercise: str, names: tuple[str, ...]) -> dict:
    chosen = {f"ok {k}": v for k, (v, meant) in VARIANTS.items() if set(meant) & set(names)}
    chosen |= {f"bug {k}": v for k, (v, meant) in BUGS.items() if set(meant) & set(names)}
    return check_verdicts(CHAPTER, exercise, chosen, names)


def assert_calibrated(exercise: str, names: tuple[str, ...]) -> None:
    """At least 20 correct variants pass each check, at least as many realistic bugs are caught
    by each, and the checks module's table says so."""
    verdicts = verdicts_for(exercise, names)
    for check in names:
        variants = [k for k, (_, meant) in VARIANTS.items() if check in meant]
        bugs = [k for k, (_, meant) in BUGS.items() if check in meant]
        rejected = {k: verdicts[f"ok {k}"][check].message for k in variants if not verdicts[f"ok {k}"][check].passed}
        missed = [k for k in bugs if verdicts[f"bug {k}"][check].passed]
        assert not rejected, f"{check} rejects correct variants: {rejected}"
        assert not missed, f"{check} misses bugs: {missed}"
        figures = (len(variants), 0, len(bugs), len(bugs))
        assert figures[0] >= 20 and figures[2] >= figures[0], (check, figures)
        assert checks.CALIBRATION[f"{exercise}/{check}"] == figures


def test_train_epoch_checks_calibrated():
    assert_calibrated("train_epoch", EPOCH_CHECKS)


def test_trajectory_calibrated():
    assert_calibrated("training", ("trajectory",))


def test_test_accuracy_calibrated():
    """The slowest: each variant and each bug that trains trains 3 epochs on all 60,000 images."""
    assert_calibrated("training", ("test_accuracy",))


def test_a_failed_trajectory_says_what_differed():
    """Which epoch, how far outside the band, and the likely causes."""
    verdicts = check_verdicts(CHAPTER, "training", {"fast": BUGS["returns_the_last_batch"][0],
                                                    "slow": BUGS["mean_with_custom_updater"][0]}, ("trajectory",))
    fast, slow = verdicts["fast"]["trajectory"].message, verdicts["slow"]["trajectory"].message
    assert "after epoch 1" in fast and "lower than every correct run" in fast and "below that" in fast
    assert "higher than every correct run" in slow and "mean loss with a custom updater" in slow


# -- self-checks ----------------------------------------------------------------------------------
WRONG = {  # a source, or (source, what its self-check must say, what it must not say): issue 21
    "accuracy": [(ACCURACY_FRACTION, "that is the fraction 2/3", "compared with y as it is"),
                 ACCURACY_SCORES_WITH_LABELS,
                 (accuracy("return float((y_hat.argmax(1) == y).sum())"),
                  "take argmax(1) only when y_hat has two dimensions", "")],
    "early_stopping": [ES_BUGS["alias 0"][0], ES_BUGS["last of a tie"][0], ES_BUGS["two epochs per epoch"][0]],
    "evaluate_accuracy": [EVALUATE_MEAN_OF_BATCHES, EVALUATE_WITHOUT["no_grad"], EVALUATE_WITHOUT["eval"],
                          (EVALUATE_WITHOUT["eval"].replace("metric = ", "net.eval()\n    metric = "),
                           "call net.eval() only when isinstance(net, torch.nn.Module)", "")],
    "train_epoch": [EPOCH_MEAN_WITH_CUSTOM, EPOCH_NEVER_ZEROES, epoch(mode="pass"),
                    epoch(returns="metric[0] / len(train_iter), metric[1] / metric[2]")],
    "predict": [predict("with torch.no_grad():\n    return net(X).argmax(1).squeeze()"),
                (predict("with torch.no_grad():\n    return net(X).argmax(1, keepdim=True).squeeze()"),
                 "squeeze() with no dim drops every dimension of size 1", "reshape(-1, 1)"),
                predict("return net(X).argmax(1)")],
}


def test_selfchecks_judge_one_exercise(tmp_path):
    strip = lambda s: (s[0].strip("\n"), *s[1:]) if isinstance(s, tuple) else s.strip("\n")  # noqa: E731
    assert_selfchecks_judge_one_exercise(CHAPTER, {k: [strip(s) for s in v] for k, v in WRONG.items()}, tmp_path)


# -- text and figures -----------------------------------------------------------------------------
def test_prose_quotes_its_outputs():
    text = prose.markdown(CHAPTER)
    scratch, concise = stored_text(CHAPTER, TRAINING_CELL), stored_text(CHAPTER, CONCISE_CELL)
    accuracy = prose.number_after(scratch, "test acc")
    assert "About 83 % of the test images" in text and "about 83 % test accuracy" in text
    assert abs(accuracy - 0.83) < 0.005, f"the text says about 83 %; the run shows {accuracy}"
    wobble = abs(prose.number_after(concise, "test acc") - accuracy)
    assert "within the epoch-to-epoch wobble, the same result" in text and wobble <= 0.015
    assert "a fraction of a second each" in text and prose.number_after(scratch, "(") < 1
    long_run = stored_text(CHAPTER, LONG_RUN_CELL)
    gap = prose.number_after(long_run, "train acc") - prose.number_after(long_run, "test acc")
    assert "a couple of percent apart" in text and 0.005 < gap < 0.035
    assert "7,850 parameters" in text
    assert "stable `softmax`" in text and "chapter 07" in text  # the naive softmax points back
    assert "$\\bar o$" not in text and "m = \\max_k o_k" in text  # chapter 07's symbol for the row maximum
    assert "later chapters" not in text and "come in later" not in text


def test_the_ranking_of_classes_is_the_outputs():
    text = prose.markdown(CHAPTER)
    shown = stored_text(CHAPTER, PER_CLASS_CELL)
    per_class = {name: float(v) for name, v in re.findall(r"([a-z -]+?) (\d\.\d\d)(?:,|$)",
                                                          shown.split("accuracy per class:")[1].strip())}
    per_class = {name.strip(): v for name, v in per_class.items()}
    assert len(per_class) == 10, per_class
    assert "Trousers, ankle boots, bags and sneakers are recognised best, more than nine times in ten" in text
    assert {n for n, v in per_class.items() if v > 0.9} == {"trouser", "ankle boot", "bag", "sneaker"}, per_class
    assert "sandals nearly as often" in text and 0.85 <= per_class["sandal"] <= 0.9
    assert "**shirts** and **pullovers**, right only about six times in ten" in text
    assert sorted(per_class, key=per_class.get)[:2] in (["shirt", "pullover"], ["pullover", "shirt"])
    assert all(0.55 <= per_class[n] < 0.65 for n in ("shirt", "pullover")), per_class
    assert "t-shirts, coats and dresses near eight in ten" in text
    assert all(0.75 <= per_class[n] <= 0.85 for n in ("t-shirt", "coat", "dress")), per_class
    inside = float(re.search(r"\((\d+)%\) are another footwear class", stored_text(CHAPTER, FOOTWEAR_CELL)).group(1))
    assert "the confusions stay mostly inside the group" in text and inside >= 80


def test_answers_quote_their_outputs():
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    shown = stored_text(CHAPTER, ANSWERS_CELL)
    difference = prose.number_after(shown, "difference")
    assert "about a thousandth here" in text and 0.0005 <= difference < 0.002, difference
    runs = {(float(lr), int(size)): (float(l), float(a)) for lr, size, l, a in
            re.findall(r"lr ([\d.]+)\s+batch\s+(\d+): train loss ([\d.]+), test acc ([\d.]+)", shown)}
    base = runs[(0.1, 256)]
    assert "a training loss of 0.61 against 0.45 for 0.1" in text and round(runs[(0.01, 256)][0], 2) == 0.61
    assert round(base[0], 2) == 0.45 and runs[(0.3, 256)][0] > base[0], runs
    assert "far higher (about 1.5)" in text and round(runs[(1.0, 256)][0], 1) == 1.5
    assert "still about 0.82" in text and abs(runs[(1.0, 256)][1] - 0.82) < 0.01
    assert "batches of 32 take eight times as many steps and end lowest" in text
    assert runs[(0.1, 32)][0] < base[0] < runs[(0.1, 1024)][0], runs
    assert min(l for l, _ in runs.values()) == runs[(0.1, 32)][0]


def test_early_stopping_keeps_the_best_epoch_in_the_book():
    text = prose.markdown(CHAPTER)
    shown = stored_text(CHAPTER, EARLY_STOPPING_CELL)
    best = prose.number_after(shown, "best validation accuracy")
    last = prose.number_after(shown, "last epoch")
    last_test = prose.number_after(shown, "test accuracy: last epoch")
    stopped = prose.number_after(shown, "early-stopped")
    epochs = re.search(r"at epoch (\d+) of (\d+)", shown)
    assert "the test set looked at only once" in text and "levels off within the first few tens of epochs" in text
    assert int(epochs.group(1)) <= 60 and int(epochs.group(2)) == 100, epochs.group(0)
    assert "wanders within about a percent" in text and 0 <= best - last <= 0.015, (best, last)
    assert "do about as well on the test set as the last epoch's" in text and abs(stopped - last_test) < 0.01


def test_image_grid_titles_stay_clear_of_the_row_above():
    """Two-line titles (true and predicted class) above the second row of a 2×6 grid must not
    reach into the images of the first row."""
    import matplotlib
    matplotlib.use("Agg")
    import torch
    from course.animator import show_images
    axes = show_images(torch.rand(12, 28, 28), 2, 6, titles=["true: ankle boot\npred: pullover"] * 12)
    fig = axes[0].figure
    fig.canvas.draw()  # lays out the titles and the images' aspect
    renderer = fig.canvas.get_renderer()
    for top, below in zip(axes[:6], axes[6:]):
        title = below.title.get_window_extent(renderer)
        image = top.images[0].get_window_extent(renderer)
        assert title.y1 < image.y0, f"a title reaches {title.y1 - image.y0:.1f} px into the image above it"


def test_early_stopping_calibrated():
    """Every correct way of keeping the best state passes; aliases, ties kept late, wrong
    accuracies and wrong epochs are caught — the grader recomputing the kept parameters'
    validation accuracy itself."""
    from tests.calibration import assert_calibrated as assert_table, calibrate
    figures = calibrate(CHAPTER, "early_stopping", {k: {"early_stopping": v} for k, v in ES_VARIANTS.items()},
                        {k: ({"early_stopping": v}, which) for k, (v, which) in ES_BUGS.items()},
                        ("validation_accuracies", "best_parameters"))
    assert_table(figures, checks.CALIBRATION, "early_stopping")


def test_the_book_ends_with_where_next():
    from pathlib import Path
    toc = Path(__file__).resolve().parents[1] / "_toc.yml"
    page = " ".join((toc.parent / "book/where_next.md").read_text().split())
    entries = re.findall(r"- file: (\S+)", toc.read_text())
    assert entries.index("book/where_next") == entries.index(f"chapters/{CHAPTER}/{CHAPTER}") + 1, entries
    for chapter in ("Multilayer Perceptrons", "Weight Decay", "Dropout", "Convolutional Neural Networks",
                    "Optimization Algorithms", "Model Selection, Underfitting"):
        assert chapter in page, chapter
