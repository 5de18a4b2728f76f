"""Language model providers behind one interface (see chatbot/llm/base.py)."""
