"""Chapter 09: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem.

Every graded submission trains softmax regression on all of Fashion-MNIST (a few seconds
in the harness), so the corpus is kept small."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "09_softmax_regression_training"

CASES = [
    SOLUTION,
    STUB,
    # train_epoch and the training check call the student's accuracy, so its crash on
    # (n, 10) scores against (n,) labels costs them too.
    Case("accuracy_compares_scores_with_labels", replace={"accuracy": """
        def accuracy(y_hat, y):
            return float((y_hat.type(y.dtype) == y).sum())
        """}, scores={"accuracy": 0.5, "evaluate_accuracy": 0, "train_epoch": 0, "training": 0},
         messages={"accuracy": "not y_hat itself", "train_epoch": "size of tensor"}),
    Case("train_epoch_forgets_zero_grad", replace={"train_epoch": """
        def train_epoch(net, train_iter, loss, updater):
            if isinstance(net, torch.nn.Module):
                net.train()
            metric = Accumulator(3)
            for X, y in train_iter:
                y_hat = net(X)
                l = loss(y_hat, y)
                if isinstance(updater, torch.optim.Optimizer):
                    l.mean().backward()
                    updater.step()
                else:
                    l.sum().backward()
                    updater(X.shape[0])
                metric.add(float(l.detach().sum()), accuracy(y_hat.detach(), y), y.numel())
            return metric[0] / metric[2], metric[1] / metric[2]
        """}, scores={"train_epoch": 2.5}, messages={"train_epoch": "zero_grad"}),
    Case("train_epoch_mean_loss_with_custom_updater", replace={"train_epoch": """
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
                    l.mean().backward()
                    updater(X.shape[0])
                metric.add(float(l.detach().sum()), accuracy(y_hat.detach(), y), y.numel())
            return metric[0] / metric[2], metric[1] / metric[2]
        """}, scores={"train_epoch": 2.5, "training": 0},
         messages={"train_epoch": "l.sum()", "training": "the training loss after epoch 1"}),
    Case("evaluate_accuracy_averages_batches", replace={"evaluate_accuracy": """
        def evaluate_accuracy(net, data_iter):
            if isinstance(net, torch.nn.Module):
                net.eval()
            accs = []
            with torch.no_grad():
                for X, y in data_iter:
                    accs.append(accuracy(net(X), y) / len(y))
            return sum(accs) / len(accs)
        """}, scores={"evaluate_accuracy": 1, "training": 2},
         messages={"evaluate_accuracy": "mean of the batches' accuracies",
                   "training": "evaluate_accuracy reported"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch09"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
