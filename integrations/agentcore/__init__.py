"""Flotilla on Amazon Bedrock AgentCore Runtime: the graph behind its HTTP contract."""
