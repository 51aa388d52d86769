"""Chapter 06: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "06_linear_regression_concise"

CASES = [
    SOLUTION,
    STUB,
    Case("load_array_always_shuffles", replace={"load_array": """
        def load_array(data_arrays, batch_size, is_train=True):
            return data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=True)
        """}, scores={"load_array": 3}, messages={"load_array": "stored order"}),
    Case("load_array_own_generator", replace={"load_array": """
        def load_array(data_arrays, batch_size, is_train=True):
            g = torch.Generator().manual_seed(0)
            return data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train, generator=g)
        """}, scores={"load_array": 2}, messages={"load_array": "no generator"}),
    Case("load_array_not_a_dataloader", replace={"load_array": """
        def load_array(data_arrays, batch_size, is_train=True):
            X, y = data_arrays
            idx = torch.randperm(len(X)) if is_train else torch.arange(len(X))
            return [(X[idx[i:i + batch_size]], y[idx[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
        """}, scores={"load_array": 2}, messages={"load_array": "expected a torch.utils.data.DataLoader"}),
    Case("huber_without_delta_factor", replace={"huber_loss": """
        def huber_loss(y_hat, y, delta=1.0):
            r = (y_hat - y.reshape(y_hat.shape)).abs()
            return torch.where(r <= delta, 0.5 * r ** 2, r - 0.5 * delta)
        """}, scores={"huber_loss": 1.5}, messages={"huber_loss": "without the factor delta"}),
    Case("huber_broadcasts", replace={"huber_loss": """
        def huber_loss(y_hat, y, delta=1.0):
            r = (y_hat - y).abs()
            return torch.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta))
        """}, scores={"huber_loss": 3.5}, messages={"huber_loss": "broadcast against an (n,)"}),
    Case("huber_from_the_library", replace={"huber_loss": """
        def huber_loss(y_hat, y, delta=1.0):
            return nn.functional.huber_loss(y_hat, y.reshape(y_hat.shape), reduction='none', delta=delta)
        """}, scores={"huber_loss": 3}, messages={"huber_loss": "nn.functional.huber_loss"}),
    Case("train_never_zeroes_grads", replace={"train_concise": """
        def train_concise(features, labels, num_epochs, lr, batch_size, loss):
            net = nn.Sequential(nn.Linear(features.shape[1], 1))
            net[0].weight.data.normal_(0, 0.01)
            net[0].bias.data.fill_(0)
            data_iter = load_array((features, labels), batch_size, is_train=True)
            trainer = torch.optim.SGD(net.parameters(), lr=lr)
            for epoch in range(num_epochs):
                for X, y in data_iter:
                    l = loss(net(X), y)
                    l.backward()
                    trainer.step()
            return net
        """}, scores={"train_concise": 0}, messages={"train_concise": "mean minibatch loss in epoch"}),
    Case("train_returns_nothing", replace={"train_concise": """
        def train_concise(features, labels, num_epochs, lr, batch_size, loss):
            net = nn.Sequential(nn.Linear(features.shape[1], 1))
            net[0].weight.data.normal_(0, 0.01)
            net[0].bias.data.fill_(0)
            trainer = torch.optim.SGD(net.parameters(), lr=lr)
            for epoch in range(num_epochs):
                for X, y in load_array((features, labels), batch_size):
                    l = loss(net(X), y)
                    trainer.zero_grad()
                    l.backward()
                    trainer.step()
        """}, scores={"train_concise": 2}, messages={"train_concise": "returned a NoneType"}),
    Case("grads_are_the_parameters", replace={"get_w_b_grads": """
        def get_w_b_grads(net):
            return net[0].weight, net[0].bias
        """}, scores={"get_w_b_grads": 0}, messages={"get_w_b_grads": "returned the weight itself"}),
    Case("grads_flattened", replace={"get_w_b_grads": """
        def get_w_b_grads(net):
            return net[0].weight.grad.reshape(-1), net[0].bias.grad
        """}, scores={"get_w_b_grads": 0}, messages={"get_w_b_grads": "returned shape"}),
    Case("load_array_cell_deleted", delete=("load_array",), scores={"load_array": 0, "train_concise": 0},
         messages={"load_array": "missing", "train_concise": "missing"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch06"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
