"""The Write tab: the document editor, its files, the context, the desk's dialogs and token view."""
