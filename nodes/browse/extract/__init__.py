"""Generic extraction over a rendered page: main text, tables, quantities, sentences, links.

Everything here is a pure function over a rendered DOM (an HTML string) or plain text, one
module per concern. It knows no site: boilerplate is recognised by HTML semantics and generic
class/id words (`dom`), never by selectors for a particular page.
"""
