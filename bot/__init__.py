"""signalwatch: watch the news for the geopolitical signals you track."""

__version__ = "0.1.0"
