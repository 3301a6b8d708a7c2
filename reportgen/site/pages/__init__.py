"""The pages of a site, one module per page kind (index, experiment, run, compare, problems): page
contexts as plain data for the templates, and what an experiment's pages write besides (runs table, exports,
charts)."""
