/**
 * Kairos's own `webauthn.js`, served at Kratos's path (`/.well-known/ory/webauthn.js`) and named by the
 * `webauthn_script` node. It offers the functions Kratos UIs call by name (`onclickTrigger`): oryWebAuthnLogin,
 * oryWebAuthnRegistration, oryPasskeyLogin, oryPasskeyRegistration, oryPasskeySettingsRegistration, each taking the
 * options from the trigger node (Kratos's `{publicKey: …}` with base64url binaries) and writing the browser's answer
 * into the form's hidden field before submitting it. Buttons marked `data-webauthn-trigger` (the hosted UI, which
 * sends no inline JavaScript) are wired by delegation.
 *
 * When the browser refuses (cancelled, timed out, no key for this site, wrong domain) the script says why next to the
 * button and also submits the error's name (`{"client_error":"NotAllowedError"}`), so the server can log, count and
 * explain it like any rejected factor.
 */
import { createHash } from 'node:crypto';

export const WEBAUTHN_SCRIPT_PATH = '/.well-known/ory/webauthn.js';

export const WEBAUTHN_SCRIPT = `(function () {
  'use strict';
  if (typeof window === 'undefined' || window.__oryWebAuthnInitialized) return;
  function dec(value) {
    var s = String(value).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function enc(buffer) {
    if (!buffer) return undefined;
    var bytes = new Uint8Array(buffer), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  function field(name) { return document.querySelector('[name="' + name + '"]'); }
  function optionsFrom(options, triggerName) {
    var opt = options;
    if (!opt) { var el = field(triggerName); opt = JSON.parse(el && el.value ? el.value : '{}'); }
    if (typeof opt === 'string') opt = JSON.parse(opt);
    opt = JSON.parse(JSON.stringify(opt));
    var pk = opt.publicKey;
    pk.challenge = dec(pk.challenge);
    if (pk.user && pk.user.id) pk.user.id = dec(pk.user.id);
    ['allowCredentials', 'excludeCredentials'].forEach(function (k) {
      if (pk[k]) pk[k] = pk[k].map(function (c) { return Object.assign({}, c, { id: dec(c.id) }); });
    });
    return opt;
  }
  var EXPLAIN = {
    NotAllowedError: 'Your browser did not get an answer from a key: the request was cancelled or timed out, or no key registered for this site was found.',
    InvalidStateError: 'This key is already registered for your account.',
    SecurityError: 'This page is not on the domain the keys are registered for, so the browser refused.',
    NotSupportedError: 'This browser or key does not support what this service asks for.',
    AbortError: 'The request was cancelled.'
  };
  function explain(anchor, err) {
    var name = (err && err.name) || 'Error';
    var box = document.querySelector('[data-webauthn-error]');
    if (!box && anchor) {
      box = document.createElement('div');
      box.setAttribute('data-webauthn-error', '');
      box.setAttribute('role', 'alert');
      box.className = 'msg error';
      anchor.insertAdjacentElement('afterend', box);
    }
    if (box) box.textContent = EXPLAIN[name] || ('The key could not be used (' + name + ').');
    return name;
  }
  function submitWith(resultName, value, anchor) {
    var result = field(resultName);
    if (!result) return;
    result.value = value;
    var form = result.closest('form') || (anchor && anchor.closest('form'));
    if (form) form.submit();
  }
  function reportError(resultName, anchor, err) {
    var name = explain(anchor, err);
    submitWith(resultName, JSON.stringify({ client_error: name }), anchor);
  }
  function assertionJson(c) {
    return JSON.stringify({ id: c.id, rawId: enc(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { authenticatorData: enc(c.response.authenticatorData), clientDataJSON: enc(c.response.clientDataJSON), signature: enc(c.response.signature), userHandle: enc(c.response.userHandle) } });
  }
  function attestationJson(c) {
    return JSON.stringify({ id: c.id, rawId: enc(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { attestationObject: enc(c.response.attestationObject), clientDataJSON: enc(c.response.clientDataJSON), transports: c.response.getTransports ? c.response.getTransports() : [] } });
  }
  function get(triggerName, resultName, options) {
    var anchor = field(triggerName);
    if (!window.PublicKeyCredential) return explain(anchor, { name: 'NotSupportedError' });
    navigator.credentials.get(optionsFrom(options, triggerName))
      .then(function (c) { submitWith(resultName, assertionJson(c), anchor); })
      .catch(function (err) { reportError(resultName, anchor, err); });
  }
  function create(triggerName, resultName, options) {
    var anchor = field(triggerName);
    if (!window.PublicKeyCredential) return explain(anchor, { name: 'NotSupportedError' });
    navigator.credentials.create(optionsFrom(options, triggerName))
      .then(function (c) { submitWith(resultName, attestationJson(c), anchor); })
      .catch(function (err) { reportError(resultName, anchor, err); });
  }
  var api = {
    oryWebAuthnLogin: function (o) { get('webauthn_login_trigger', 'webauthn_login', o); },
    oryWebAuthnRegistration: function (o) { create('webauthn_register_trigger', 'webauthn_register', o); },
    oryPasskeyLogin: function (o) { get('passkey_login_trigger', 'passkey_login', o || (field('passkey_challenge') || {}).value); },
    oryPasskeyRegistration: function (o) {
      var data = field('passkey_create_data');
      var parsed = o || (data ? JSON.parse(data.value) : null);
      if (parsed && parsed.credentialOptions) {
        // Kratos: the passkey is named after the first filled form field among displayNameFieldNames.
        var names = Array.isArray(parsed.displayNameFieldNames) && parsed.displayNameFieldNames.length ? parsed.displayNameFieldNames : [parsed.displayNameFieldName];
        var form = data && data.closest('form'), displayName = '';
        for (var i = 0; i < names.length && !displayName; i++) {
          var input = names[i] && form ? form.querySelector('[name="' + names[i] + '"]') : null;
          if (input && input.value) displayName = input.value;
        }
        var opts = JSON.parse(JSON.stringify(parsed.credentialOptions));
        if (opts.publicKey && opts.publicKey.user) { opts.publicKey.user.name = displayName; opts.publicKey.user.displayName = displayName; }
        parsed = opts;
      }
      create('passkey_register_trigger', 'passkey_register', parsed);
    },
    oryPasskeySettingsRegistration: function (o) { create('passkey_create_data', 'passkey_settings_register', o || (field('passkey_create_data') || {}).value); },
    oryPasskeyLoginAutocompleteInit: function () {}
  };
  Object.keys(api).forEach(function (k) { window[k] = api[k]; window['__' + k] = api[k]; });
  document.addEventListener('click', function (event) {
    var el = event.target && event.target.closest ? event.target.closest('[data-webauthn-trigger]') : null;
    if (!el) return;
    var fn = api[el.getAttribute('data-webauthn-trigger')];
    if (!fn) return;
    event.preventDefault();
    fn();
  });
  window.__oryWebAuthnInitialized = true;
  window.dispatchEvent(new CustomEvent('oryWebAuthnInitialized'));
})();
`;

/** Subresource integrity of the script (Kratos sends sha512 in the script node). */
export const WEBAUTHN_SCRIPT_INTEGRITY = `sha512-${createHash('sha512').update(WEBAUTHN_SCRIPT).digest('base64')}`;
