"""A two-layer graph convolutional network (Kipf and Welling) on a synthetic citation graph.

The graph is drawn from a stochastic block model: nodes of the same class link with a higher
probability than nodes of different classes, and each node carries a sparse bag-of-words
feature vector whose word probabilities depend on its class (noisy enough that the links
help). The network propagates features over the normalised adjacency
D^-1/2 (A + I) D^-1/2, held as a sparse COO tensor, and is trained on a few labelled nodes.

    python gcn.py --nodes 1000 --epochs 200
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

parser = argparse.ArgumentParser(description="GCN on a stochastic-block-model graph")
parser.add_argument("--nodes", type=int, default=1000, help="number of nodes (default 1000)")
parser.add_argument("--classes", type=int, default=5, help="number of classes (default 5)")
parser.add_argument("--features", type=int, default=300, help="feature size (default 300)")
parser.add_argument("--degree-in", type=float, default=4.0,
                    help="expected links to nodes of the same class (default 4)")
parser.add_argument("--degree-out", type=float, default=1.0,
                    help="expected links to nodes of other classes (default 1)")
parser.add_argument("--train-per-class", type=int, default=20,
                    help="labelled training nodes per class (default 20)")
parser.add_argument("--val", type=int, default=200, help="validation nodes (default 200)")
parser.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
parser.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
parser.add_argument("--weight-decay", type=float, default=5e-4,
                    help="weight decay, L2 on the parameters (default 5e-4)")
parser.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
parser.add_argument("--dropout", type=float, default=0.5, help="dropout rate (default 0.5)")
parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
parser.add_argument("--log-interval", type=int, default=20, help="epochs between status lines")
args = parser.parse_args()

torch.manual_seed(args.seed)


def make_graph(n, num_classes, num_features, degree_in, degree_out):
    """Labels, row-normalised features and the symmetric 0/1 adjacency (no self loops)."""
    labels = torch.randint(0, num_classes, (n,))
    # link probabilities: p_in within a class, p_out across classes
    block = n / num_classes
    p_in = degree_in / block
    p_out = degree_out / (n - block)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    probs = torch.where(same, torch.full((n, n), p_in), torch.full((n, n), p_out))
    upper = torch.triu((torch.rand(n, n) < probs).float(), diagonal=1)
    adj = upper + upper.t()
    # each class favours its own slice of the vocabulary; every word has some background rate
    word_probs = torch.full((num_classes, num_features), 0.02)
    words_per_class = num_features // num_classes
    for c in range(num_classes):
        word_probs[c, c * words_per_class:(c + 1) * words_per_class] = 0.05
    features = torch.bernoulli(word_probs[labels])
    features = features / features.sum(1, keepdim=True).clamp(min=1)
    return labels, features, adj


def normalize_adjacency(adj):
    """D^-1/2 (A + I) D^-1/2 as a sparse COO tensor."""
    adj = adj + torch.eye(adj.size(0))
    degree = adj.sum(1)
    d_inv_sqrt = degree.pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    indices = adj.nonzero().t()
    values = d_inv_sqrt[indices[0]] * d_inv_sqrt[indices[1]]
    return torch.sparse_coo_tensor(indices, values, adj.shape, check_invariants=True).coalesce()


class GraphConvolution(nn.Module):
    """out = adj @ (x @ W) + b, with adj sparse."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
        if bias:
            self.bias = nn.Parameter(torch.FloatTensor(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, input, adj):
        # bag-of-words features come in as a sparse matrix, hidden activations dense
        if input.is_sparse:
            support = torch.sparse.mm(input, self.weight)
        else:
            support = torch.mm(input, self.weight)
        output = torch.spmm(adj, support)
        if self.bias is not None:
            return output + self.bias
        return output

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}"


class GCN(nn.Module):
    def __init__(self, num_features, hidden, num_classes, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(num_features, hidden)
        self.gc2 = GraphConvolution(hidden, num_classes)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


def accuracy(output, labels):
    preds = output.max(1)[1].type_as(labels)
    correct = preds.eq(labels).double()
    return (correct.sum() / len(labels)).item()


def main():
    start = time.perf_counter()
    labels, features, adj = make_graph(args.nodes, args.classes, args.features,
                                       args.degree_in, args.degree_out)
    adj = normalize_adjacency(adj)
    features = features.to_sparse()

    # masks: a few labelled nodes per class for training, then validation, the rest for test
    order = torch.randperm(args.nodes)
    train_mask = torch.zeros(args.nodes, dtype=torch.bool)
    for c in range(args.classes):
        members = order[labels[order] == c]
        train_mask[members[:args.train_per_class]] = True
    rest = order[~train_mask[order]]
    val_mask = torch.zeros(args.nodes, dtype=torch.bool)
    val_mask[rest[:args.val]] = True
    test_mask = ~(train_mask | val_mask)

    model = GCN(args.features, args.hidden, args.classes, args.dropout)
    optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    print(model)
    print(f"{args.nodes} nodes, {adj._nnz()} adjacency entries, {features._nnz()} feature "
          f"entries, {int(train_mask.sum())} train / "
          f"{int(val_mask.sum())} val / {int(test_mask.sum())} test")

    first_loss = None
    for epoch in range(1, args.epochs + 1):
        model.train()
        optimizer.zero_grad()
        output = model(features, adj)
        loss_train = F.nll_loss(output[train_mask], labels[train_mask])
        acc_train = accuracy(output[train_mask], labels[train_mask])
        loss_train.backward()
        optimizer.step()
        if first_loss is None:
            first_loss = loss_train.item()

        model.eval()
        with torch.no_grad():
            output = model(features, adj)
            loss_val = F.nll_loss(output[val_mask], labels[val_mask])
            acc_val = accuracy(output[val_mask], labels[val_mask])
        if epoch % args.log_interval == 0 or epoch == 1:
            print(f"Epoch: {epoch:04d} loss_train: {loss_train.item():.4f} "
                  f"acc_train: {acc_train:.4f} loss_val: {loss_val.item():.4f} "
                  f"acc_val: {acc_val:.4f}")

    model.eval()
    with torch.no_grad():
        output = model(features, adj)
        loss_test = F.nll_loss(output[test_mask], labels[test_mask])
        acc_test = accuracy(output[test_mask], labels[test_mask])
    print(f"Test set results: loss= {loss_test.item():.4f} accuracy= {acc_test:.4f}")
    result = {"loss_first": round(first_loss, 4), "loss_last": round(loss_train.item(), 4),
              "val_acc": round(acc_val, 4), "test_acc": round(acc_test, 4),
              "chance": round(1.0 / args.classes, 4),
              "seconds": round(time.perf_counter() - start, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
