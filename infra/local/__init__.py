"""The local stack: Kafka, PostgreSQL, SeaweedFS and Keycloak as real processes, no Docker."""
