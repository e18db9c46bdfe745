"""The AgentCore tier: Amazon Bedrock AgentCore's remote MicroVM sandboxes behind Flotilla's protocols."""
