import kanbench

study = kanbench.load_study("results/default_study")  # its records/*.json: 2 runs
print(study.stages[["family", "n_params", "train_rmse", "test_rmse"]])

analysis = kanbench.fit(study)  # the fits and tables of kanbench-report
summary = kanbench.tables(analysis)["summary"]
print(summary[["task", "alpha_kan", "alpha_lo_kan", "alpha_hi_kan", "alpha_mlp"]])

figure = kanbench.plot_scaling(analysis, "exp_sin_y2")  # a matplotlib Figure
figure.savefig("scaling_exp_sin_y2.png")
