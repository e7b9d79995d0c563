"""Logistic regression on scikit-learn's bundled iris data set (no download), tracked in MLflow.

Run it as an MLflow project on MLTF (``%mltf_submit sklearn-iris``) or as a plain script:
``python train.py --C 0.5``. Under MLTF the run already exists (MLFLOW_RUN_ID); alone it starts one.
"""

from __future__ import annotations

import argparse

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max_iter", type=int, default=200, help="solver iterations")
    parser.add_argument("--test_size", type=float, default=0.25, help="held-out fraction")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the split")
    args = parser.parse_args(argv)

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=args.test_size, random_state=args.seed, stratify=y
    )
    with mlflow.start_run():
        mlflow.log_params(vars(args))
        model = LogisticRegression(C=args.C, max_iter=args.max_iter)
        model.fit(x_train, y_train)
        # learning curve: accuracy on growing slices of the training set, one metric step each
        for step, frac in enumerate((0.2, 0.4, 0.6, 0.8, 1.0)):
            n = max(10, int(len(x_train) * frac))
            part = LogisticRegression(C=args.C, max_iter=args.max_iter).fit(x_train[:n], y_train[:n])
            mlflow.log_metric("curve_accuracy", accuracy_score(y_test, part.predict(x_test)), step=step)
        pred = model.predict(x_test)
        accuracy = float(accuracy_score(y_test, pred))
        mlflow.log_metric("accuracy", accuracy)
        mlflow.log_metric("f1_macro", float(f1_score(y_test, pred, average="macro")))
        print(f"accuracy={accuracy:.4f} on {len(y_test)} held-out flowers (C={args.C})")
    return accuracy


if __name__ == "__main__":
    main()
