"""Intelligence: RFM, clusters, basket rules, recommendations, send time, churn, budget,
influence; each a model whose output becomes contact traits with provenance."""
