"""Prosemix's shipped files (anchors, evaluation samples, icons, licences), installed as the
package ``prosemix_resources`` so that importlib.resources finds them in a wheel."""
