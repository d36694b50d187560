"""ML: the ALS factors that answer, the rating model's RMSE, and the answer evaluations."""
