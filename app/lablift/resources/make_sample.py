"""Generate sample_loans.csv: a synthetic loan-approval table for first-time users.

Numeric, categorical and boolean columns, a sensitive attribute (`gender`), a few missing
values, and a binary target (`approved`) that depends on the features plus noise.
Run: python app/lablift/resources/make_sample.py
"""

from pathlib import Path

import numpy as np
import pandas as pd


def make_loans(n: int = 2000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 70, n)
    income = np.round(rng.lognormal(10.6, 0.45, n), -2)
    employment_years = np.clip(np.round(rng.gamma(2.0, 3.0, n), 1), 0, age - 18)
    credit_score = np.clip(np.round(rng.normal(660, 70, n)), 300, 850).astype(int)
    loan_amount = np.round(income * rng.uniform(0.1, 0.9, n), -2)
    home = rng.choice(["rent", "mortgage", "own"], n, p=[0.45, 0.4, 0.15])
    purpose = rng.choice(["car", "education", "home_improvement", "debt_consolidation",
                          "business"], n, p=[0.25, 0.15, 0.2, 0.3, 0.1])
    region = rng.choice(["north", "south", "east", "west"], n)
    gender = rng.choice(["female", "male"], n, p=[0.48, 0.52])
    has_cosigner = rng.random(n) < 0.2
    # Strong enough that a first model reaches ROC AUC ~0.85; gender has a small direct effect
    # so the fairness report has something to show without failing the four-fifths screen.
    logit = (2.0 * (0.012 * (credit_score - 660) + 0.9 * np.log(income / loan_amount)
                    + 0.05 * employment_years + 0.6 * has_cosigner + 0.3 * (home == "own")
                    - 0.25 * (purpose == "business") - 0.4)
             - 0.15 * (gender == "female"))
    approved = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({
        "applicant_id": np.arange(100001, 100001 + n), "age": age, "income": income,
        "employment_years": employment_years, "credit_score": credit_score,
        "loan_amount": loan_amount, "home_ownership": home, "purpose": purpose,
        "region": region, "gender": gender, "has_cosigner": has_cosigner,
        "approved": approved})
    missing = rng.random(n) < 0.03
    df.loc[missing, "employment_years"] = np.nan
    return df


if __name__ == "__main__":
    out = Path(__file__).with_name("sample_loans.csv")
    make_loans().to_csv(out, index=False)
    print(f"wrote {out}")
