"""The OpenAPI document as the API's contract: a generated client and schemathesis."""
