// A foreign SMSC for Clarion's interoperability tests, built on the npm `smpp` package.
// Usage: node server.js SYSTEM_ID PASSWORD
// Prints {"port": N} once listening on 127.0.0.1 (ephemeral port). Answers submit_sm with a
// hex message id and sends a delivery receipt whose id is in decimal (a common SMSC quirk),
// with the receipted_message_id and message_state TLVs. A submit_sm to 000 triggers an MO
// "STOP" from 447700900999 to the sender of that submit.
'use strict';
const smpp = require('smpp');

const [systemId, password] = process.argv.slice(2);
let nextId = 0x1000;
const stamp = () => {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes());
};

const server = smpp.createServer({ debug: false }, (session) => {
  let bound = false;
  const bind = (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    bound = true;
    session.send(pdu.response({ system_id: 'node-smpp' }));
  };
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);
  session.on('bind_receiver', bind);
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    if (!bound) { session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS })); return; }
    const id = nextId++;
    session.send(pdu.response({ message_id: id.toString(16).toUpperCase() }));
    if (pdu.registered_delivery) {
      const text = `id:${id} sub:001 dlvrd:001 submit date:${stamp()} done date:${stamp()} ` +
        'stat:DELIVRD err:000 text:';
      session.deliver_sm({
        source_addr: pdu.destination_addr,
        destination_addr: pdu.source_addr,
        esm_class: 4,
        short_message: Buffer.from(text, 'ascii'),
        receipted_message_id: String(id),
        message_state: 2,
      });
    }
    if (pdu.destination_addr === '000') {
      session.deliver_sm({
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: '447700900999',
        destination_addr: pdu.source_addr,
        data_coding: 3,
        short_message: Buffer.from('STOP', 'latin1'),
      });
    }
  });
  session.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
