"""Pure computational cores (DataFrame or SQL in, DataFrame out). Never imports dagster."""
